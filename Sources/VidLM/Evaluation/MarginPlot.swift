import Foundation

/// An SVG histogram of per-clip margins (true-order score − best perturbation score) for the
/// true-order run and the order-removed control, on shared bins, with a line at 0.
public enum MarginPlot {
    public static func svg(_ report: FrameOrderReport, bins: Int = 24) -> String {
        let rows = report.rows.filter { $0.error == nil }
        let truth = rows.map(\.margin), control = rows.map(\.controlMargin)
        let all = truth + control
        var lo = all.min() ?? -1, hi = all.max() ?? 1
        if hi - lo < 1e-9 { lo -= 1; hi += 1 }
        let width = 640.0, height = 360.0, left = 56.0, right = 16.0, top = 40.0, bottom = 48.0
        let plotW = width - left - right, plotH = height - top - bottom
        func histogram(_ values: [Double]) -> [Int] {
            var counts = Array(repeating: 0, count: bins)
            for v in values {
                let b = min(bins - 1, max(0, Int((v - lo) / (hi - lo) * Double(bins))))
                counts[b] += 1
            }
            return counts
        }
        let ht = histogram(truth), hc = histogram(control)
        let peak = Double(max(1, (ht + hc).max() ?? 1))
        let barW = plotW / Double(bins)
        func x(_ v: Double) -> Double { left + (v - lo) / (hi - lo) * plotW }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="20" font-size="14">Frame-order margins: \(escape(report.modelType)), \(rows.count) clips (true order acc \(pct(report.trueOrder.accuracy)), control \(pct(report.orderRemoved.accuracy)), chance \(pct(report.chance)))</text>

        """
        for (counts, colour, offset) in [(ht, "#1f77b4", 0.0), (hc, "#ff7f0e", 0.5)] {
            for (i, c) in counts.enumerated() where c > 0 {
                let h = Double(c) / peak * plotH
                svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" ",
                              left + Double(i) * barW + offset * barW, top + plotH - h, barW / 2, h)
                svg += "fill=\"\(colour)\" fill-opacity=\"0.75\"/>\n"
            }
        }
        if lo < 0 && hi > 0 {
            svg += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n", x(0), x(0), top, top + plotH)
        }
        svg += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, left + plotW, top + plotH, top + plotH)
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2f</text>\n", x(v), top + plotH + 16, v)
        }
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">margin (log-likelihood, nats): true order − best perturbation</text>\n", left + plotW / 2, height - 8)
        svg += String(format: "<text x=\"12\" y=\"%.1f\" transform=\"rotate(-90 12 %.1f)\" text-anchor=\"middle\">clips (max %d)</text>\n", top + plotH / 2, top + plotH / 2, Int(peak))
        svg += "<rect x=\"\(Int(width - 200))\" y=\"30\" width=\"12\" height=\"12\" fill=\"#1f77b4\"/><text x=\"\(Int(width - 182))\" y=\"41\">true frame positions</text>\n"
        svg += "<rect x=\"\(Int(width - 200))\" y=\"48\" width=\"12\" height=\"12\" fill=\"#ff7f0e\"/><text x=\"\(Int(width - 182))\" y=\"59\">control (order removed)</text>\n"
        svg += "</svg>\n"
        return svg
    }

    private static func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
