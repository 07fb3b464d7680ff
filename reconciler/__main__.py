from reconciler.main import main

main()
