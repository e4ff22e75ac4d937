from raybank.entry import main

main()
