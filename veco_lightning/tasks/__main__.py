from veco_lightning.allocator import xtreme

if __name__ == "__main__":
    xtreme()
