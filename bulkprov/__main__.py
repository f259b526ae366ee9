from bulkprov.cli import main

raise SystemExit(main())
