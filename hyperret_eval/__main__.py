from hyperret_eval.cli import main

raise SystemExit(main())
