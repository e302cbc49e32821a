import Foundation
@_exported import VidLMTestSupport

enum ParityFixtures {
    static let root = TestFixtures.parity
}
