import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the connection, so a handler can
/// cancel its work when the client goes away.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Closes a connection as soon as the client closes its side. Hummingbird keeps half-closed
/// connections open (to finish answering), which would leave a request whose client has gone
/// computing until it writes; closing at once fires the channel's close future, which cancels
/// the request (within one event-loop turn). A client that half-closes its socket and then
/// waits for the answer is therefore not supported.
final class DisconnectHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Runs `body` in a task cancelled when `channel` closes (or the caller is cancelled).
func cancellingOnDisconnect<T: Sendable>(_ channel: any Channel, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await body() }
    channel.closeFuture.whenComplete { _ in task.cancel() }
    return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
}
