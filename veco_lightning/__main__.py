from veco_lightning.allocator import fit

if __name__ == "__main__":
    fit()
