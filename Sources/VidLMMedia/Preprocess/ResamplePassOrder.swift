/// Which Pillow release's choice of pass order to reproduce.
///
/// Pillow resizes in two separable 8-bit passes and clamps the intermediate picture to bytes, so
/// running the vertical pass before the horizontal one gives slightly different bytes (typically
/// +-1, more next to hard edges). Pillow has changed when it runs vertical first, so byte parity
/// with a reference environment means picking the rule of the Pillow version installed there
/// (`python -c "import PIL; print(PIL.__version__)"`). The fixtures pin Pillow 13.0.0.
/// When only one axis changes size there is one pass and all three agree; NEAREST is not affected.
public enum ResamplePassOrder: String, Sendable, CaseIterable, Codable {
    /// Pillow 13.0 and later (`libImaging/Resample.c`): vertical first when the height shrinks by
    /// more than twice as many pixels as the width does: `inH - outH > 0 && inH - outH > (inW - outW) * 2`.
    case pillow13
    /// Pillow 12.2 and 12.3 (`Image.resize` in Python): vertical first only for very tall sources
    /// that shrink in height: `inH > inW * 100 && outH < inH`.
    case pillow12_2
    /// Pillow 12.1 and earlier (checked against 10.4, 11.3, 12.0, 12.1): always horizontal first.
    case horizontalFirst

    /// Whether this Pillow runs the vertical pass first for this resize.
    func verticalFirst(inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int) -> Bool {
        switch self {
        case .pillow13:
            return (inHeight - outHeight) > 0 && (inHeight - outHeight) > (inWidth - outWidth) * 2
        case .pillow12_2:
            return inHeight > inWidth * 100 && outHeight < inHeight
        case .horizontalFirst:
            return false
        }
    }
}
