import Foundation

/// Checks the bytes popgated wrote on a connection no worker answered on: every byte belongs to a
/// well-framed HTTP/1.1 response with a Content-Length that matches its body, and only an error
/// can be sent before the peer has completed a request head.
enum HTTPResponseStream {
    static func check(_ written: [UInt8], after sent: [UInt8]) {
        let headComplete = contains(sent, [13, 10, 13, 10]) || contains(sent, [10, 10])
        var rest = written[...]
        while !rest.isEmpty {
            guard let headEnd = firstRange(of: [13, 10, 13, 10], in: rest) else {
                return FuzzCheck.require(false, "a response head does not end in a blank line")
            }
            let head = String(decoding: rest[rest.startIndex..<headEnd.lowerBound], as: UTF8.self)
            let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
            let status = lines[0].split(separator: " ", maxSplits: 2)
            FuzzCheck.require(
                status.count == 3 && status[0] == "HTTP/1.1" && status[1].count == 3 && Int(status[1]) != nil,
                "a response does not begin with an HTTP/1.1 status line"
            )
            let code = Int(status[1]) ?? 0
            FuzzCheck.require(code >= 400 || headComplete, "a success was sent before a whole request head arrived")
            let lengths = lines.dropFirst().compactMap { line -> Int? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
            let bodyStart = headEnd.upperBound
            // An interim answer (100 Continue) has no body, and neither has an answer to CONNECT: NIO's
            // encoder sends none and strips the length (the gateway refuses CONNECT with a 405).
            if (100..<200).contains(code) || (code == 405 && contains(sent, Array("CONNECT ".utf8))) {
                FuzzCheck.require(lengths.isEmpty, "a response that has no body states a Content-Length")
                rest = rest[bodyStart...]
                continue
            }
            FuzzCheck.require(lengths.count == 1, "a gateway response has no single Content-Length")
            let length = lengths.first ?? 0
            FuzzCheck.require(rest.endIndex - bodyStart >= length, "a response body is shorter than its Content-Length")
            rest = rest[min(rest.endIndex, bodyStart + length)...]
        }
    }

    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        firstRange(of: needle, in: bytes[...]) != nil
    }

    private static func firstRange(of needle: [UInt8], in bytes: ArraySlice<UInt8>) -> Range<Int>? {
        guard bytes.count >= needle.count else { return nil }
        var index = bytes.startIndex
        while index <= bytes.endIndex - needle.count {
            if bytes[index..<(index + needle.count)].elementsEqual(needle) { return index..<(index + needle.count) }
            index += 1
        }
        return nil
    }
}
