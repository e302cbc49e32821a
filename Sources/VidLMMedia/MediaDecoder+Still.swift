import CFFmpeg
import Foundation

/// Still pictures come out as transformers loads them (Pillow, or torchcodec's image decoder,
/// which give the same pixels): JPEG through libjpeg-turbo, WebP through libwebp, and the EXIF
/// orientation applied. Other formats decode through libav (lossless: the same pixels).
extension MediaDecoder {
    /// Reads what a still needs before its first frame: its EXIF orientation (display size and
    /// probe facts follow it) and which library decodes it.
    func prepareStill(stream st: UnsafeMutablePointer<AVStream>) {
        let head = FileWindow(path: path)?.read(at: 0, count: 16) ?? []
        stillOrientation = ExifOrientation.read(path: path, head: head)
        let codec = st.pointee.codecpar.pointee.codec_id
        if codec == AV_CODEC_ID_MJPEG && JPEGPicture.isJPEG(head) {
            stillLibrary = .jpeg
        } else if codec == AV_CODEC_ID_WEBP && WebPPicture.isWebP(head) && WebPPicture.available {
            stillLibrary = .webp
        }
        guard stillOrientation != 1, var v = info.video else { return }
        // The EXIF tag says how to show the picture; a display matrix does not apply on top.
        rotation = 0
        v.rotation = 0
        let swap = ExifOrientation.swapsSides(stillOrientation)
        v.displayWidth = swap ? v.height : v.width
        v.displayHeight = swap ? v.width : v.height
        v.exifOrientation = stillOrientation
        info.video = v
    }

    /// The still's picture through libjpeg or libwebp; nil when libav decodes it: other formats,
    /// and the JPEG processes libjpeg-turbo 2.1 lacks (lossless, 12-bit). Anything else those
    /// libraries refuse is an error with their reason, as it is in Pillow.
    func libraryStill(timeline t: Timeline, size: PixelSize?) throws(MediaError) -> VideoFrame? {
        guard info.isStillImage, let library = stillLibrary else { return nil }
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        let picture: RGBImage
        switch library {
        case .jpeg:
            do {
                picture = try JPEGPicture.decode(bytes, path: path)
            } catch let error where error.description.contains("Unsupported JPEG") {
                return nil   // lossless or 12-bit: libav reads those
            }
        case .webp:
            // Damaged data stays away from libav's WebP decoder, which aborts the process on
            // some of it (a fuzzed alpha chunk: Tests/Fixtures/fuzz/media/webp-alpha-libav-abort).
            guard let decoded = try WebPPicture.decode(bytes) else {
                throw .decodeFailed("\(path) is a WebP picture libwebp cannot decode (damaged, or animated: animated WebP is not supported)")
            }
            picture = decoded
        }
        return try present(picture, index: 0, pts: t.pts[0], timeline: t, size: size)
    }
}

/// The libraries that decode stills as Pillow does.
enum StillLibrary {
    case jpeg
    case webp
}
