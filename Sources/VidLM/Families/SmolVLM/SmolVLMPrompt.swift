import Foundation

/// The text SmolVLM's processor puts where the chat template wrote `<image>` or `<video>`:
/// per image, its tiles (`<row_r_col_c>` then the tile's image tokens) and the global image; per
/// video, an intro naming the frame count and duration, then every frame with its time.
public struct SmolVLMPrompt: Sendable {
    public var imageToken = "<image>"
    public var videoToken = "<video>"
    public var fakeImageToken = "<fake_token_around_image>"
    public var globalImageToken = "<global-img>"
    /// Image tokens per tile (`image_seq_len`: (image size / patch)² / scale²).
    public var tokensPerTile: Int

    public init(tokensPerTile: Int) { self.tokensPerTile = tokensPerTile }

    /// One image: a single tile (rows = cols = 0) or its grid of tiles and the global image.
    public func image(rows: Int, cols: Int) -> String {
        let tokens = String(repeating: imageToken, count: tokensPerTile)
        guard rows > 0 || cols > 0 else { return fakeImageToken + globalImageToken + tokens + fakeImageToken }
        var s = ""
        for r in 1...max(rows, 1) {
            for c in 1...max(cols, 1) { s += fakeImageToken + "<row_\(r)_col_\(c)>" + tokens }
            s += "\n"
        }
        return s + "\n" + fakeImageToken + globalImageToken + tokens + fakeImageToken
    }

    /// One video: "You are provided the following series of eight frames from a 0:00:05
    /// [H:MM:SS] video." then "Frame from MM:SS:" and a one-tile image per frame.
    public func video(frameSeconds: [Double], durationSeconds: Double) -> String {
        let duration = Int(durationSeconds)
        let hms = "\(duration / 3600):" + String(format: "%02d:%02d", duration / 60 % 60, duration % 60)
        var s = "You are provided the following series of \(EnglishNumber.words(frameSeconds.count)) frames from a \(hms) [H:MM:SS] video.\n"
        for t in frameSeconds {
            let whole = Int(t)
            s += String(format: "\nFrame from %02d:%02d:", whole / 60, whole % 60) + image(rows: 0, cols: 0)
        }
        return s + "\n\n"
    }
}

/// English cardinal numbers as `num2words` writes them ("twenty-one", "one hundred and five").
enum EnglishNumber {
    private static let ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                               "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
    private static let tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

    static func words(_ n: Int) -> String {
        if n < 0 { return "minus " + words(-n) }
        if n < 20 { return ones[n] }
        if n < 100 { return tens[n / 10] + (n % 10 == 0 ? "" : "-" + ones[n % 10]) }
        if n < 1000 { return ones[n / 100] + " hundred" + (n % 100 == 0 ? "" : " and " + words(n % 100)) }
        if n < 1_000_000 {
            let rest = n % 1000
            return words(n / 1000) + " thousand" + (rest == 0 ? "" : (rest < 100 ? " and " : ", ") + words(rest))
        }
        return String(n)
    }
}
