from central.operator.cli import main

raise SystemExit(main())
