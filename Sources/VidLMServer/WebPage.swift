enum WebPage { static let html = "<!doctype html><title>vidlm</title>" }
