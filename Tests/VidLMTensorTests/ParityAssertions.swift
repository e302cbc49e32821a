import Foundation
import XCTest
import VidLMTensor

enum ParityFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/parity")
}

/// Max-abs error relative to the expected tensor's largest magnitude (the harness tolerance).
func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-4, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(what): shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let a = actual.floats(), e = expected.floats()
    var maxErr: Float = 0, scale: Float = 0
    for i in 0..<e.count {
        maxErr = max(maxErr, abs(a[i] - e[i]))
        scale = max(scale, abs(e[i]))
        if a[i].isNaN != e[i].isNaN { maxErr = .infinity }
    }
    XCTAssertLessThanOrEqual(maxErr, tolerance * max(scale, 1e-6),
                             "\(what): max-abs error \(maxErr) vs scale \(scale)", file: file, line: line)
}
