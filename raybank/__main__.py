from raybank.cli import main

main()
