from raybank.gateway.client import main

main()
