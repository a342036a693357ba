/* The console's chat panel: POST /v1/chat (the signed-in cookie authenticates) and render the
 * server-sent events as they stream: tokens, tool calls and results, confirmation questions. */
(function () {
  "use strict";
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  if (!log || !form || !input) return;
  var conversation = null;

  function bubble(kind, text) {
    var p = document.createElement("p");
    p.className = "chat-" + kind;
    p.textContent = text;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
    return p;
  }

  function ask(question) {
    var box = bubble("confirm", question + " ");
    ["Yes", "No"].forEach(function (label) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", function () {
        box.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        send(label.toLowerCase(), label === "Yes");
      });
      box.appendChild(b);
    });
  }

  function handle(type, data) {
    if (data.conversation_id) conversation = data.conversation_id;
    if (type === "tool_call") bubble("tool", "→ " + data.name + " " + JSON.stringify(data.args));
    else if (type === "tool_result") bubble("tool", (data.ok ? "✓ " : "✗ ") + data.summary);
    else if (type === "message") bubble("agent", data.text);
    else if (type === "confirm") ask(data.question);
    else if (type === "error") bubble("error", data.message || data.text || "error");
  }

  async function send(message, confirm) {
    bubble("user", message);
    var body = { message: message, conversation_id: conversation };
    if (confirm !== undefined) body.confirm = confirm;
    var resp = await fetch("/v1/chat", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
      body: JSON.stringify(body)
    });
    if (!resp.ok || !resp.body) { bubble("error", "chat failed: HTTP " + resp.status); return; }
    var reader = resp.body.getReader(), decoder = new TextDecoder(), buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var frames = buffer.split("\n\n");
      buffer = frames.pop();
      frames.forEach(function (frame) {
        var type = "message", data = "";
        frame.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) type = line.slice(7);
          else if (line.indexOf("data: ") === 0) data += line.slice(6);
        });
        if (data) handle(type, JSON.parse(data));
      });
    }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
})();
