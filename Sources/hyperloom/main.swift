print("hyperloom")
