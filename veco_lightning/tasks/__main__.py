from veco_lightning.tasks.cli import main

if __name__ == "__main__":
    main()
