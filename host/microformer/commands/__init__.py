"""One module per CLI verb (see microformer.cli.VERBS): add_parser(subparsers), run(args)."""
