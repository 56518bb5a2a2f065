import WireGuard

/// wg-quick config text (``WGQuickConfig``: what `popctl peer config` writes, and the WireGuard
/// module's reader of such files, from any editor): a config that parses renders to text that
/// parses to the same rendering.
enum WGQuickTarget {
    static let target = FuzzTarget(
        name: "wg-quick", summary: "wg-quick config text: parse, render, parse again to the same text", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let config = try? WGQuickConfig.parse(String(decoding: data, as: UTF8.self)) else { return }
        let rendered = config.render()
        do {
            let again = try WGQuickConfig.parse(rendered)
            FuzzCheck.require(again.render() == rendered, "a rendered wg-quick config reads back differently")
        } catch {
            FuzzCheck.require(false, "a rendered wg-quick config does not parse: \(error)")
        }
    }
}
