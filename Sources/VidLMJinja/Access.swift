/// `x.name`, `x[key]` and `x[a:b:c]` as jinja2's sandboxed environment resolves them: `.name`
/// tries the Python attribute (a method such as `items` or `strip`) before the dict key; `[key]`
/// tries the item first. A missing attribute or item is undefined, not an error, until used.
enum Access {
    static func attribute(_ value: JinjaValue, _ name: String) -> Result<JinjaValue, JinjaError> {
        switch value {
        case .undefined(let u):
            return .failure(.runtime(u.hint))
        case .dict(let d):
            if let m = Methods.dict(d, name) { return .success(m) }
            if let v = d[name] { return .success(v) }
        case .string(let s):
            if let m = Methods.string(s, name) { return .success(m) }
        case .list(let a), .tuple(let a):
            if let m = Methods.list(a, name) { return .success(m) }
            // groupby's (grouper, list) pairs are named tuples in jinja2.
            if case .tuple = value, a.count == 2, name == "grouper" || name == "list" { return .success(a[name == "grouper" ? 0 : 1]) }
            if Methods.mutatingListMethods.contains(name) {
                var u = JinjaUndefined(hint: "access to attribute '\(name)' of '\(value.typeName)' object is unsafe")
                u.unsafe = true
                return .success(.undefined(u))
            }
        case .object(let o):
            if let v = o.attribute(name) { return .success(v) }
        default:
            break
        }
        return .success(.undefined("\(objectDescription(value)) has no attribute '\(name)'"))
    }

    static func item(_ value: JinjaValue, _ key: JinjaValue) -> Result<JinjaValue, JinjaError> {
        switch (value, key) {
        case (.undefined(let u), _):
            return .failure(.runtime(u.hint))
        case (.dict(let d), .string(let k)):
            if let v = d[k] { return .success(v) }
            return attribute(value, k)
        case (.list(let a), _), (.tuple(let a), _):
            if let i = key.integer {
                let j = i < 0 ? i + a.count : i
                if j >= 0 && j < a.count { return .success(a[j]) }
                return .success(.undefined("\(objectDescription(value)) has no element \(i)"))
            }
            if case .string(let k) = key { return attribute(value, k) }
        case (.string(let s), _):
            if let i = key.integer {
                let scalars = Array(s.unicodeScalars)
                let j = i < 0 ? i + scalars.count : i
                if j >= 0 && j < scalars.count { return .success(.string(String(scalars[j]))) }
                return .success(.undefined("\(objectDescription(value)) has no element \(i)"))
            }
            if case .string(let k) = key { return attribute(value, k) }
        case (.object, .string(let k)):
            return attribute(value, k)
        default:
            break
        }
        return .success(.undefined("\(objectDescription(value)) has no element \(key.pythonRepr)"))
    }

    /// Python slicing of lists, tuples and strings (by code point).
    static func slice(_ value: JinjaValue, start: Int?, stop: Int?, step: Int?) -> Result<JinjaValue, JinjaError> {
        let step = step ?? 1
        guard step != 0 else { return .failure(.runtime("slice step cannot be zero")) }
        func indices(_ n: Int) -> [Int] {
            func clamp(_ i: Int?, _ defaultValue: Int, low: Int, high: Int) -> Int {
                guard var i else { return defaultValue }
                if i < 0 { i += n }
                return min(max(i, low), high)
            }
            if step > 0 {
                let a = clamp(start, 0, low: 0, high: n), b = clamp(stop, n, low: 0, high: n)
                return a < b ? Array(stride(from: a, to: b, by: step)) : []
            }
            let a = clamp(start, n - 1, low: -1, high: n - 1), b = clamp(stop, -1, low: -1, high: n - 1)
            return a > b ? Array(stride(from: a, to: b, by: step)) : []
        }
        switch value {
        case .list(let a): return .success(.list(indices(a.count).map { a[$0] }))
        case .tuple(let a): return .success(.tuple(indices(a.count).map { a[$0] }))
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in indices(scalars.count) { out.append(scalars[i]) }
            return .success(.string(String(out)))
        case .undefined(let u):
            return .failure(.runtime(u.hint))
        default:
            return .failure(.runtime("'\(value.typeName)' object is not subscriptable"))
        }
    }

    /// How jinja2 names an object in "has no attribute" messages.
    static func objectDescription(_ value: JinjaValue) -> String {
        if case .none = value { return "'None'" }
        return "'\(value.typeName) object'"
    }
}
