/// Facts about a media file, as `vidlm probe` prints them.
public struct MediaInfo: Sendable, Codable, Equatable {
    public var path: String
    /// Demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "png_pipe".
    public var container: String
    /// Seconds; from the container, else the video stream, else estimated by scanning.
    public var durationSeconds: Double?
    /// How `durationSeconds` was found: "container", "stream" or "scan".
    public var durationSource: String?
    public var bitRate: Int?
    public var streamCount: Int
    public var audioStreamCount: Int
    public var isStillImage: Bool
    public var video: VideoStreamInfo?
}

public struct VideoStreamInfo: Sendable, Codable, Equatable {
    public var streamIndex: Int
    public var codec: String
    /// Size of the coded pictures.
    public var width: Int
    public var height: Int
    /// Size after applying the display rotation (what frames come out as).
    public var displayWidth: Int
    public var displayHeight: Int
    public var pixelFormat: String
    /// e.g. "30000/1001"; nil when the container does not know it.
    public var averageFrameRate: String?
    public var realFrameRate: String?
    /// Frames per second on average: the container's average rate, or (`averageFpsSource`
    /// "scan") frame count / duration of the scanned timeline.
    public var averageFps: Double?
    /// Where `averageFps` came from: "container" or "scan".
    public var averageFpsSource: String?
    /// Frame count and where it came from: "container" (the container's exact count), "scan"
    /// (every packet counted) or "estimated" (duration × the container's rate; only for files too
    /// large to scan while probing).
    public var frameCount: Int?
    public var frameCountSource: String?
    public var timeBase: String
    /// Presentation time of the first frame, in stream time base and in seconds.
    public var startPts: Int64?
    public var startSeconds: Double?
    public var durationSeconds: Double?
    /// Clockwise degrees applied to decoded pictures to show them upright (0, 90, 180, 270).
    public var rotation: Int
    /// e.g. "1:1"; nil when unknown.
    public var sampleAspectRatio: String?
    /// A still's EXIF orientation tag (2 to 8) when it has one: the picture comes out as the tag
    /// says to show it (displayWidth/displayHeight follow), as transformers' image loaders do.
    public var exifOrientation: Int? = nil
}
