import Foundation

/// One thing described label by label (`popctl status`, `peer show`): a record, not a table, so no
/// header; labels padded to one width so the values line up.
struct TextRecord {
    let rows: [[String]]

    func render() -> String {
        rows.map { $0[0].padding(toLength: 19, withPad: " ", startingAt: 0) + $0[1] }.joined(separator: "\n") + "\n"
    }
}
