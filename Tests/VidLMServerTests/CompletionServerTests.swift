import Foundation
import XCTest
@testable import VidLMServer

/// The protocol end to end: a real server on a loopback port, the built-in model, raw HTTP.
final class CompletionServerTests: XCTestCase {
    func testHealthModelsAndPage() async throws {
        let s = try await RunningServer.start()
        let health = try await s.get("/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(try health.json()["status"] as? String, "ok")
        let models = try await s.get("/v1/models")
        XCTAssertEqual(models.status, 200)
        let data = try models.json()["data"] as? [[String: Any]]
        XCTAssertEqual(data?.first?["id"] as? String, "vidlm-shapes")
        XCTAssertEqual(data?.first?["object"] as? String, "model")
        let page = try await s.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers["content-type"]?.hasPrefix("text/html") == true)
        XCTAssertTrue(page.text.contains("<html"))
        let missing = try await s.get("/v2/nothing")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try errorObject(missing)["code"] as? String, "not_found")
        let wrongMethod = try await s.get("/v1/chat/completions")
        XCTAssertEqual(wrongMethod.status, 405)
        await s.stop()
    }

    func testNonStreamingCompletion() async throws {
        let s = try await RunningServer.start()
        let r = try await s.post(["model": "vidlm-shapes", "messages": videoMessages("world/sequence.mp4")])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try content(r), sequenceCaption)
        let json = try r.json()
        XCTAssertEqual(json["object"] as? String, "chat.completion")
        XCTAssertTrue((json["id"] as? String)?.hasPrefix("chatcmpl-") == true)
        let choice = (json["choices"] as? [[String: Any]])?.first
        XCTAssertEqual(choice?["finish_reason"] as? String, "stop")
        let usage = json["usage"] as? [String: Int]
        XCTAssertEqual(usage?["completion_tokens"].map { $0 > 0 }, true)
        XCTAssertEqual(usage.map { $0["prompt_tokens"]! + $0["completion_tokens"]! }, usage?["total_tokens"])
        // The built-in model's 8 frames, the segment centres of the 12-frame clip.
        let frames = (json["vidlm"] as? [String: Any])?["frames"] as? [[String: Any]]
        XCTAssertEqual(frames?.count, 8)
        await s.stop()
    }

    /// A follow-up turn: the built-in family answers the last question about the conversation's
    /// media (ConversationFit), so a conversation gives the answer the lone question gives.
    func testFollowUpTurnIsAnsweredAboutTheConversationsMedia() async throws {
        let s = try await RunningServer.start()
        let conversation: [[String: Any]] = [
            ["role": "system", "content": "You describe clips."],
            videoMessages("world/sequence.mp4", question: "what colour is the square?")[0],
            ["role": "assistant", "content": "blue."],
            ["role": "user", "content": "what happens"],
        ]
        let r = try await s.post(["messages": conversation])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try content(r), sequenceCaption)
        // Without any media the family has nothing to look at: a 400, not a crash.
        let textOnly = try await s.post(["messages": [["role": "user", "content": "what happens"]]])
        XCTAssertEqual(textOnly.status, 400, textOnly.text)
        await s.stop()
    }

    func testMaxTokensGivesLength() async throws {
        let s = try await RunningServer.start()
        let r = try await s.post(["messages": videoMessages("world/sequence.mp4"), "max_tokens": 3])
        XCTAssertEqual(r.status, 200, r.text)
        let json = try r.json()
        XCTAssertEqual(((json["choices"] as? [[String: Any]])?.first?["finish_reason"]) as? String, "length")
        XCTAssertEqual((json["usage"] as? [String: Int])?["completion_tokens"], 3)
        XCTAssertTrue(sequenceCaption.hasPrefix(try content(r)))
        await s.stop()
    }

    func testStreamingCompletion() async throws {
        let s = try await RunningServer.start()
        let r = try await s.post(["messages": videoMessages("world/sequence.mp4"), "stream": true,
                                  "stream_options": ["include_usage": true]])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "text/event-stream")
        let events = r.events
        XCTAssertEqual(events.last, "[DONE]")
        var text = ""
        var finish: String?
        var usage: [String: Int]?
        for event in events.dropLast() {
            let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
            XCTAssertEqual(chunk["object"] as? String, "chat.completion.chunk")
            if let u = chunk["usage"] as? [String: Int] { usage = u }
            guard let choice = (chunk["choices"] as? [[String: Any]])?.first else { continue }
            text += ((choice["delta"] as? [String: Any])?["content"] as? String) ?? ""
            if let f = choice["finish_reason"] as? String { finish = f }
        }
        XCTAssertEqual(text, sequenceCaption)
        XCTAssertEqual(finish, "stop")
        XCTAssertNotNil(usage?["prompt_tokens"])
        await s.stop()
    }

    func testStopStringCutsTheAnswer() async throws {
        let s = try await RunningServer.start()
        let r = try await s.post(["messages": videoMessages("world/sequence.mp4"), "stop": ["triangle"]])
        XCTAssertEqual(try content(r), "the blue square appears, then the ")
        let streamed = try await s.post(["messages": videoMessages("world/sequence.mp4"), "stop": "square", "stream": true])
        let pieces = try streamed.events.dropLast().map { event -> String in
            let chunk = try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any]
            let delta = ((chunk?["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any]
            return delta?["content"] as? String ?? ""
        }
        XCTAssertEqual(pieces.joined(), "the blue ")
        await s.stop()
    }

    func testDataURLVideoAndImageUploadsAreRemoved() async throws {
        let s = try await RunningServer.start { $0.mediaRoot = nil }
        let clip = try Data(contentsOf: SharedEngine.samples.appendingPathComponent("world/sequence.mp4"))
        let r = try await s.post(["messages": videoMessages("data:video/mp4;base64," + clip.base64EncodedString())])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try content(r), sequenceCaption)
        // llama-server's input_video shape gives the same answer.
        let llama = try await s.post(["messages": [["role": "user", "content": [
            ["type": "input_video", "input_video": ["data": clip.base64EncodedString(), "format": "mp4"]],
            ["type": "text", "text": "what happens"]] as [Any]]]])
        XCTAssertEqual(try content(llama), sequenceCaption)
        let image = try Data(contentsOf: SharedEngine.samples.appendingPathComponent("world/still-two.png"))
        let still = try await s.post(["messages": videoMessages("data:image/png;base64," + image.base64EncodedString(), type: "image_url")])
        XCTAssertEqual(still.status, 200, still.text)
        XCTAssertFalse(try content(still).isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: s.server.uploads.path)
        XCTAssertEqual(left, [], "upload files must be removed when their request ends")
        await s.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.server.uploads.path))
    }

    func testBadDataURLs() async throws {
        let s = try await RunningServer.start()
        let notBase64 = try await s.post(["messages": videoMessages("data:video/mp4;base64,@@@@")])
        XCTAssertEqual(notBase64.status, 400, notBase64.text)
        let notMedia = try await s.post(["messages": videoMessages("data:video/mp4;base64," + Data("just text, not a video".utf8).base64EncodedString())])
        XCTAssertEqual(notMedia.status, 400, notMedia.text)
        let message = try errorObject(notMedia)["message"] as? String ?? ""
        XCTAssertFalse(message.contains(s.server.uploads.path), "error messages must not reveal upload paths: \(message)")
        let wrongType = try await s.post(["messages": videoMessages("data:text/plain;base64,aGVsbG8=")])
        XCTAssertEqual(wrongType.status, 400)
        let remote = try await s.post(["messages": videoMessages("https://example.com/clip.mp4")])
        XCTAssertEqual(remote.status, 400)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: s.server.uploads.path), [])
        await s.stop()
    }

    func testBadRequests() async throws {
        let s = try await RunningServer.start()
        let malformed = try await http(s.port, "POST", "/v1/chat/completions", body: Data("{\"messages\": [".utf8))
        XCTAssertEqual(malformed.status, 400)
        XCTAssertEqual(try errorObject(malformed)["type"] as? String, "invalid_request_error")
        let cases: [([String: Any], String)] = [
            (["messages": videoMessages("world/sequence.mp4"), "temperature": "hot"], "temperature"),
            (["messages": videoMessages("world/sequence.mp4"), "n": 2], "n"),
            (["messages": videoMessages("world/sequence.mp4"), "max_tokens": 0], "max_tokens"),
            (["messages": videoMessages("world/sequence.mp4"), "top_p": 1.5], "top_p"),
            (["messages": videoMessages("world/sequence.mp4"), "stop": [1, 2]], "stop"),
            (["messages": videoMessages("world/sequence.mp4"), "frame_sampling": ["frames": 0]], "frame_sampling.frames"),
            (["messages": videoMessages("world/sequence.mp4"), "frame_sampling": ["start": 2, "end": 1]], "frame_sampling.end"),
            (["messages": [] as [Any]], "messages"),
            (["messages": [["role": "wizard", "content": "hi"]]], "messages[0].role"),
            (["messages": [["role": "user", "content": [["type": "audio", "audio": "x"]]]]], "messages[0].content[0].type"),
            (["messages": "hello"], "messages"),
            // Known fields of the wrong type name the field (never coerced, never ignored).
            (["messages": videoMessages("world/sequence.mp4"), "max_tokens": "10"], "max_tokens"),
            (["messages": videoMessages("world/sequence.mp4"), "max_completion_tokens": true], "max_completion_tokens"),
            (["messages": videoMessages("world/sequence.mp4"), "stream": "yes"], "stream"),
            (["messages": videoMessages("world/sequence.mp4"), "seed": 1.5], "seed"),
            (["messages": videoMessages("world/sequence.mp4"), "n": "2"], "n"),
            (["messages": videoMessages("world/sequence.mp4"), "top_p": "high"], "top_p"),
            (["messages": videoMessages("world/sequence.mp4"), "frame_sampling": "all"], "frame_sampling"),
            (["messages": videoMessages("world/sequence.mp4"), "frame_sampling": ["fps": "2"]], "frame_sampling.fps"),
            (["messages": videoMessages("world/sequence.mp4"), "stream": true, "stream_options": ["include_usage": "yes"]],
             "stream_options.include_usage"),
            (["messages": [["role": "user", "content": [["type": "text", "text": 5]]]]], "messages[0].content[0].text"),
            (["messages": [["role": "user", "content": [["type": "video_url", "video_url": ["url": 5]], ["type": "text", "text": "what"]]]]],
             "messages[0].content[0].video_url.url"),
            (["messages": [["role": 7, "content": "hi"]]], "messages[0].role"),
        ]
        for (body, param) in cases {
            let r = try await s.post(body)
            XCTAssertEqual(r.status, 400, "\(body): \(r.text)")
            XCTAssertEqual(try errorObject(r)["param"] as? String, param, r.text)
        }
        // Fields the server does not know are ignored whatever their type (clients send many).
        let extra = try await s.post(["messages": videoMessages("world/sequence.mp4"), "user": ["id": 1], "logprobs": false,
                                      "presence_penalty": "none", "metadata": [1, 2, 3], "vidlm_future_option": NSNull()])
        XCTAssertEqual(extra.status, 200, extra.text)
        XCTAssertEqual(try content(extra), sequenceCaption)
        // A clip that does not exist under the root: the server still serves afterwards.
        let missing = try await s.post(["messages": videoMessages("world/nope.mp4")])
        XCTAssertEqual(missing.status, 400)
        let ok = try await s.post(["messages": videoMessages("world/sequence.mp4")])
        XCTAssertEqual(try content(ok), sequenceCaption)
        await s.stop()
    }

    func testBodyTooLarge() async throws {
        let s = try await RunningServer.start { $0.maxBodyBytes = 4096 }
        let big = ["messages": videoMessages("world/sequence.mp4", question: String(repeating: "why ", count: 4000))]
        let r = try await s.post(big)
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(try errorObject(r)["code"] as? String, "request_too_large")
        let ok = try await s.post(["messages": videoMessages("world/sequence.mp4")])
        XCTAssertEqual(ok.status, 200)
        await s.stop()
    }

    func testDecodedMediaTooLarge() async throws {
        let s = try await RunningServer.start { $0.maxMediaBytes = 1024 }
        let clip = try Data(contentsOf: SharedEngine.samples.appendingPathComponent("world/sequence.mp4"))
        XCTAssertGreaterThan(clip.count, 1024)
        let r = try await s.post(["messages": videoMessages("data:video/mp4;base64," + clip.base64EncodedString())])
        XCTAssertEqual(r.status, 413, r.text)
        await s.stop()
    }

    func testAPIKey() async throws {
        let s = try await RunningServer.start { $0.apiKey = "sekrit-key" }
        let body = ["messages": videoMessages("world/sequence.mp4")]
        for headers in [[:], ["Authorization": "Bearer wrong-key"], ["Authorization": "Bearer sekrit-ke"],
                        ["Authorization": "sekrit-key"], ["Authorization": "Basic sekrit-key"]] {
            let r = try await s.post(body, headers: headers)
            XCTAssertEqual(r.status, 401, "\(headers)")
            XCTAssertEqual(try errorObject(r)["code"] as? String, "invalid_api_key")
            XCTAssertEqual(r.headers["www-authenticate"], "Bearer")
        }
        let models = try await s.get("/v1/models")
        XCTAssertEqual(models.status, 401)
        let metrics = try await s.get("/metrics")
        XCTAssertEqual(metrics.status, 401)
        let health = try await s.get("/health")
        XCTAssertEqual(health.status, 200)
        let ok = try await s.post(body, headers: ["Authorization": "Bearer sekrit-key"])
        XCTAssertEqual(try content(ok), sequenceCaption)
        await s.stop()
    }

    func testMetrics() async throws {
        let s = try await RunningServer.start()
        _ = try await s.post(["messages": videoMessages("world/sequence.mp4")])
        _ = try await s.post(["messages": "nope"])
        let r = try await s.get("/metrics")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = r.text
        XCTAssertTrue(text.contains("vidlm_http_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1"), text)
        XCTAssertTrue(text.contains("vidlm_http_requests_total{route=\"/v1/chat/completions\",status=\"400\"} 1"), text)
        XCTAssertTrue(text.contains("vidlm_queue_depth 0"))
        XCTAssertTrue(text.contains("vidlm_time_to_first_token_seconds_count 1"), text)
        XCTAssertTrue(text.contains("vidlm_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1"))
        XCTAssertTrue(text.contains("# TYPE vidlm_decode_tokens_per_second histogram"))
        XCTAssertTrue(text.contains("vidlm_decode_tokens_per_second_count 1"), text)
        await s.stop()
    }

    func testFramePreviewMatchesTheCompletionsFrames() async throws {
        let s = try await RunningServer.start()
        let preview = try await s.post(["url": "world/sequence.mp4", "frame_sampling": ["frames": 4]], to: "/v1/frames")
        XCTAssertEqual(preview.status, 200, preview.text)
        let frames = try XCTUnwrap(try preview.json()["frames"] as? [[String: Any]])
        XCTAssertEqual(frames.count, 4)
        for frame in frames {
            let image = try XCTUnwrap(frame["image"] as? String)
            XCTAssertTrue(image.hasPrefix("data:image/png;base64,"))
            let png = try XCTUnwrap(Data(base64Encoded: String(image.dropFirst("data:image/png;base64,".count))))
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        }
        let answer = try await s.post(["messages": videoMessages("world/sequence.mp4"), "frame_sampling": ["frames": 4]])
        let used = ((try answer.json()["vidlm"] as? [String: Any])?["frames"] as? [[String: Any]])?.map { $0["index"] as? Int }
        XCTAssertEqual(frames.map { $0["index"] as? Int }, used)
        await s.stop()
    }
}
