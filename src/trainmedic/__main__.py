"""`python -m trainmedic` runs the CLI."""

from trainmedic.cli.main import main

if __name__ == "__main__":
    main()
