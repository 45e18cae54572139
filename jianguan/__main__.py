from jianguan.cli import main

main()
