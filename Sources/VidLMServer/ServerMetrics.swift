import Foundation

/// The server's counters and histograms, rendered in Prometheus' text exposition format
/// (version 0.0.4) at GET /metrics. Labels are route names and status codes only: nothing a
/// client sends ends up in a label.
final class ServerMetrics: @unchecked Sendable {
    /// A cumulative histogram with fixed upper bounds.
    struct Histogram {
        let bounds: [Double]
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0

        init(bounds: [Double]) {
            self.bounds = bounds
            counts = Array(repeating: 0, count: bounds.count)
        }

        mutating func observe(_ value: Double) {
            for (i, bound) in bounds.enumerated() where value <= bound { counts[i] += 1 }
            sum += value
            count += 1
        }
    }

    private let lock = NSLock()
    private var requests: [String: UInt64] = [:]   // "route\u{0}status" → count
    private var ttft = Histogram(bounds: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
    private var decodeRate = Histogram(bounds: [1, 5, 10, 25, 50, 100, 200, 400, 800])
    private var completionTokens: UInt64 = 0
    private var promptTokens: UInt64 = 0

    func countRequest(route: String, status: Int) {
        lock.withLock { requests["\(route)\u{0}\(status)", default: 0] += 1 }
    }

    func observeTimeToFirstToken(_ seconds: Double) { lock.withLock { ttft.observe(seconds) } }

    func observeDecodeRate(_ tokensPerSecond: Double) { lock.withLock { decodeRate.observe(tokensPerSecond) } }

    func countTokens(prompt: Int, completion: Int) {
        lock.withLock {
            promptTokens += UInt64(max(0, prompt))
            completionTokens += UInt64(max(0, completion))
        }
    }

    /// The exposition text; `running` and `queued` are read from the admission gate.
    func render(running: Int, queued: Int, maxRunning: Int, maxQueued: Int) -> String {
        lock.withLock {
            var out = ""
            out += "# HELP vidlm_http_requests_total HTTP requests answered, by route and status code.\n"
            out += "# TYPE vidlm_http_requests_total counter\n"
            for key in requests.keys.sorted() {
                let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false)
                out += "vidlm_http_requests_total{route=\"\(parts[0])\",status=\"\(parts[1])\"} \(requests[key]!)\n"
            }
            out += gauge("vidlm_requests_running", "Completion requests computing now.", running)
            out += gauge("vidlm_queue_depth", "Completion requests waiting for a slot.", queued)
            out += gauge("vidlm_max_concurrent", "Completion requests allowed to compute at once (--max-concurrent).", maxRunning)
            out += gauge("vidlm_max_queue", "Completion requests allowed to wait (--queue).", maxQueued)
            out += counter("vidlm_prompt_tokens_total", "Prompt positions prefilled (visual rows included).", promptTokens)
            out += counter("vidlm_completion_tokens_total", "Tokens generated.", completionTokens)
            out += histogram("vidlm_time_to_first_token_seconds", "Seconds from a request's arrival to its first answer token.", ttft)
            out += histogram("vidlm_decode_tokens_per_second", "Tokens per second after the first token, per request.", decodeRate)
            return out
        }
    }

    private func gauge(_ name: String, _ help: String, _ value: Int) -> String {
        "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
    }

    private func counter(_ name: String, _ help: String, _ value: UInt64) -> String {
        "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
    }

    private func histogram(_ name: String, _ help: String, _ h: Histogram) -> String {
        var out = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (bound, count) in zip(h.bounds, h.counts) {
            out += "\(name)_bucket{le=\"\(format(bound))\"} \(count)\n"
        }
        out += "\(name)_bucket{le=\"+Inf\"} \(h.count)\n"
        out += "\(name)_sum \(format(h.sum))\n\(name)_count \(h.count)\n"
        return out
    }

    private func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }
}
