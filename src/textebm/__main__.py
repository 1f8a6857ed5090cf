from textebm.cli.main import main

raise SystemExit(main())
