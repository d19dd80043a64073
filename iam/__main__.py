from iam.cli import main

main()
