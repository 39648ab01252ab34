// The mb browser example: connects to the broker that served this page,
// subscribes to a pattern, lists the messages that arrive and publishes what
// the form says. `mb.js` is the client bundled by `deno task bundle:browser`.
import { connect } from "./mb.js";

const MAX_MESSAGES = 100;

const status = document.querySelector("#status");
const subscription = document.querySelector("#subscription");
const messages = document.querySelector("#messages");
const subscribeForm = document.querySelector("#subscribe-form");
const publishForm = document.querySelector("#publish-form");

function showStatus(state, text = state) {
  status.dataset.state = state;
  status.textContent = text;
}

// The broker's web listener serves this page and takes WebSocket
// connections on the same port.
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const url = `${scheme}//${location.host}/`;

let mb;
try {
  mb = await connect(url, {
    name: "browser-example",
    onStatus(event) {
      switch (event.type) {
        case "disconnect":
          showStatus(
            "reconnecting",
            `disconnected${event.error ? `: ${event.error.message}` : ""}`,
          );
          break;
        case "reconnecting":
          showStatus("reconnecting", `reconnecting (attempt ${event.attempt})…`);
          break;
        case "reconnect":
          showStatus("connected");
          break;
        case "error":
          console.error("mb:", event.error);
          break;
        case "close":
          showStatus("closed", event.error ? `closed: ${event.error.message}` : "closed");
          break;
      }
    },
  });
  showStatus("connected");
} catch (error) {
  showStatus("error", `cannot connect to ${url}: ${error.message}`);
  throw error;
}

function showMessage(msg) {
  const item = document.createElement("li");
  const topic = document.createElement("span");
  topic.className = "topic";
  topic.textContent = msg.topic;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = msg.text();
  item.append(topic, text);
  messages.prepend(item);
  while (messages.children.length > MAX_MESSAGES) messages.lastElementChild.remove();
}

let current;

async function subscribe(pattern) {
  await current?.unsubscribe();
  delete subscription.dataset.pattern;
  subscription.textContent = `subscribing to ${pattern}…`;
  try {
    current = mb.subscribe(pattern, { callback: showMessage });
    // Resolves once the broker has the subscription.
    await current.ready;
    subscription.textContent = `subscribed to ${pattern}`;
    subscription.dataset.pattern = pattern;
  } catch (error) {
    subscription.textContent = `cannot subscribe to ${pattern}: ${error.message}`;
  }
}

subscribeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  subscribe(subscribeForm.elements.pattern.value);
});

publishForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const { topic, message } = publishForm.elements;
  try {
    await mb.publish(topic.value, message.value);
  } catch (error) {
    console.error(`mb: cannot publish to ${topic.value}:`, error);
  }
});

await subscribe(subscribeForm.elements.pattern.value);
