import Foundation
import ServiceLifecycle
import WireGuard

/// Serves the ``StatusBoard`` on the ``StatusSocket`` until popnetd shuts down, then removes the socket.
///
/// Each answer reads the device afresh, so handshakes and counters are current rather than as old
/// as the last reconcile; if that read fails, the last reconcile's view is served.
public struct StatusService: Service {
    private let socket: StatusSocket
    private let board: StatusBoard
    private let backend: any WireGuardBackend

    /// Serves `board`, with `backend`'s current peers, on `socket`.
    public init(socket: StatusSocket, board: StatusBoard, backend: any WireGuardBackend) {
        self.socket = socket
        self.board = board
        self.backend = backend
    }

    public func run() async throws {
        let socket = socket
        let board = board
        let backend = backend
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                // The accept loop blocks, so it gets a thread of its own rather than a task of the pool.
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        socket.serve {
                            let document = board.current
                            return ((try? backend.status()).map(document.withDevice) ?? document).encoded()
                        }
                        finished.resume()
                    }
                    thread.name = "popnetd-status"
                    thread.start()
                }
            } onGracefulShutdown: {
                socket.stop()
            }
        } onCancel: {
            socket.stop()
        }
        socket.close()
    }
}
