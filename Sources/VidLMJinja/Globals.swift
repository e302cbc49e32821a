import Foundation

/// Functions every template can call: jinja2's globals (`range`, `dict`, `namespace`, `joiner`,
/// `cycler`) and the two transformers adds for chat templates (`raise_exception`, `strftime_now`).
enum Globals {
    /// jinja2's sandbox refuses ranges longer than this.
    static let maxRange = 100_000

    static func value(_ name: String) -> JinjaValue? {
        table[name].map { .callable($0) }
    }

    private static let table: [String: JinjaCallable] = [
        "range": JinjaCallable(name: "range", range),
        "dict": JinjaCallable(name: "dict") { args throws(JinjaError) in
            var d = JinjaDict()
            if let first = args.positional.first {
                guard case .dict(let base) = first else { throw .runtime("dict() takes a mapping or keyword arguments") }
                d = base
            }
            for (k, v) in args.keyword { d[k] = v }
            return .dict(d)
        },
        "namespace": JinjaCallable(name: "namespace") { args throws(JinjaError) in
            var d = JinjaDict()
            if case .dict(let base)? = args.positional.first { d = base }
            for (k, v) in args.keyword { d[k] = v }
            return .object(Namespace(d))
        },
        "raise_exception": JinjaCallable(name: "raise_exception") { args throws(JinjaError) in
            throw .raised(args.positional.first?.pythonString ?? "", line: 0)
        },
        "strftime_now": JinjaCallable(name: "strftime_now") { args throws(JinjaError) in
            guard case .string(let format)? = args.positional.first else { throw .runtime("strftime_now() needs a format string") }
            return .string(strftimeNow(format))
        },
        "joiner": JinjaCallable(name: "joiner") { args throws(JinjaError) in
            let separator = args.value(0, "sep")?.pythonString ?? ", "
            return .object(Joiner(separator))
        },
    ]

    private static func range(_ args: JinjaArguments) throws(JinjaError) -> JinjaValue {
        var ints: [Int] = []
        for v in args.positional {
            guard let i = v.integer else { throw .runtime("'\(v.typeName)' object cannot be interpreted as an integer") }
            ints.append(i)
        }
        let (start, stop, step): (Int, Int, Int)
        switch ints.count {
        case 1: (start, stop, step) = (0, ints[0], 1)
        case 2: (start, stop, step) = (ints[0], ints[1], 1)
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw .runtime("range expected 1 to 3 arguments, got \(ints.count)")
        }
        guard step != 0 else { throw .runtime("range() arg 3 must not be zero") }
        // The span of two extreme Ints can overflow: then the range is far too big anyway.
        let difference = step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
        let span = difference.overflow ? Int.max : difference.partialValue
        let magnitude = Int(clamping: step.magnitude)
        let count = span <= 0 ? 0 : span / magnitude + (span % magnitude == 0 ? 0 : 1)
        guard count <= maxRange else {
            throw .runtime("Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maxRange)).")
        }
        return .list((0..<count).map { .int(start + $0 * step) })
    }

    /// Python's `datetime.now().strftime(format)`: the C library's strftime on local time.
    static func strftimeNow(_ format: String) -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 512)
        let n = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// `joiner(sep)`: returns "" the first time it is called, `sep` afterwards.
final class Joiner: JinjaObject, @unchecked Sendable {
    private let separator: String
    private var used = false

    init(_ separator: String) { self.separator = separator }

    var typeName: String { "Joiner" }
    func attribute(_ name: String) -> JinjaValue? { nil }
    func setAttribute(_ name: String, _ value: JinjaValue) -> Bool { false }

    func call() -> JinjaValue {
        defer { used = true }
        return .string(used ? separator : "")
    }
}
