import Foundation
import XCTest
import VidLMTensor

/// Where the committed fixtures live (Tests/Fixtures), for every test target.
public enum TestFixtures {
    public static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    public static let repository = tests.deletingLastPathComponent()
    public static let parity = tests.appendingPathComponent("Fixtures/parity")
    public static func parity(_ name: String) -> URL { parity.appendingPathComponent(name) }
}

/// Max-abs error relative to the expected tensor's largest magnitude (the harness tolerance:
/// fp32 1e-4 of scale).
public func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-4, _ what: String,
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
