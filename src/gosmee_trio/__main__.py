from gosmee_trio.cli import main

main()
