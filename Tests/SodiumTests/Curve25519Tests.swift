import Foundation
import Sodium
import Testing

@Suite struct Curve25519Tests {
    // Pair produced on this machine by `wg genkey | tee /dev/stderr | wg pubkey`.
    static let wgPrivate = "KBvFkfUKvOaSXmOF+ldrtcwWI1tdrELfN/aqRmRtUE4="

    @Test func derivesThePublicKeyWgDerives() throws {
        let key = try Curve25519PrivateKey(base64: Self.wgPrivate)
        #expect(key.publicKey.base64 == (try WgTool.pubkey(of: Self.wgPrivate)))
    }

    @Test func generatedKeysAreClampedAndAgreeWithWg() throws {
        let key = Curve25519PrivateKey()
        let text = key.base64Secret()
        let bytes = [UInt8](Data(base64Encoded: text)!)
        #expect(bytes.count == 32)
        #expect(bytes[0] & 7 == 0)
        #expect(bytes[31] & 0x80 == 0 && bytes[31] & 0x40 != 0)
        #expect(key.publicKey.base64 == (try WgTool.pubkey(of: text)))
    }

    @Test func keysParseFromWgGenkeyOutput() throws {
        let text = try WgTool.run(["genkey"])
        let key = try Curve25519PrivateKey(base64: text)
        #expect(key.base64Secret() == text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test(arguments: ["", "abc", "KBvFkfUKvOaSXmOF+ldrtcwWI1tdrELfN/aqRmRtUE4", "not base64 at all, but forty-four chars!!!="])
    func malformedKeysAreRefusedWithAReason(_ text: String) {
        #expect(throws: SodiumError.self) { try Curve25519PublicKey(base64: text) }
        do {
            _ = try Curve25519PublicKey(base64: text)
        } catch {
            #expect(error.reason.contains("44 characters") || error.reason.contains("32 bytes"))
        }
    }

    @Test func privateKeysNeverPrintTheirSecret() throws {
        let key = try Curve25519PrivateKey(base64: Self.wgPrivate)
        #expect(!"\(key)".contains(Self.wgPrivate))
        #expect(!String(reflecting: key.secret).contains("KBvF"))
    }
}

/// Runs the real `wg` tool. Missing `wg` fails the test: it is a declared prerequisite.
enum WgTool {
    static func run(_ arguments: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wg")
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func pubkey(of privateKey: String) throws -> String {
        try run(["pubkey"], input: privateKey + "\n")
    }
}
