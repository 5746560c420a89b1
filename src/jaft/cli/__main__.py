from jaft.cli import main

main()
