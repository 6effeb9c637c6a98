from livehmr.cli import main

main()
