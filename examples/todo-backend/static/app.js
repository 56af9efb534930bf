// The todo page: plain JavaScript against the JSON API, no build step. Real-user monitoring
// with Grafana Faro when its browser bundles were loaded (see index.html).
"use strict";

const APP_VERSION = "0.1.0";

// Web vitals, uncaught errors, console warnings and errors, and a span per fetch whose
// `traceparent` makes the backend's spans children of it. Sessions are sampled as Faro's
// defaults say. Returns null when no copy of the bundles loaded (index.html loads them and
// says which copy on the page).
function initRum() {
  const sdk = window.GrafanaFaroWebSdk;
  if (!sdk) return null;
  const instrumentations = [...sdk.getWebInstrumentations()];
  const tracing = window.GrafanaFaroWebTracing;
  if (tracing) instrumentations.push(new tracing.TracingInstrumentation());
  return sdk.initializeFaro({
    url: "/faro/collect",
    app: { name: "todo-frontend", version: APP_VERSION },
    // Resource timings of scripts, stylesheets and images too, not only fetch/XHR: the
    // Frontend Performance dashboard's JS bytes per page load come from them.
    trackResources: true,
    instrumentations,
  });
}

const faro = initRum();

// A custom event: `browser_events_total{event_name}` on the backend, and a log line.
function track(name, attributes) {
  if (faro) faro.api.pushEvent(name, attributes);
}

const state = { token: localStorage.getItem("token"), socket: null };
const $ = (id) => document.getElementById(id);

function showError(message) {
  $("error").textContent = message || "";
}

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((data.error && data.error.message) || response.statusText);
    error.status = response.status;
    error.requestId = response.headers.get("x-request-id");
    throw error;
  }
  return data;
}

function fail(error) {
  const id = error.requestId ? ` (request ${error.requestId})` : "";
  showError(`${error.message}${id}`);
  if (error.status === 401) signOut();
}

function signIn(token, user) {
  state.token = token;
  localStorage.setItem("token", token);
  $("me").textContent = `${user.name} <${user.email}>`;
  $("auth").hidden = true;
  $("app").hidden = false;
  connect();
  refresh();
}

function signOut() {
  state.token = null;
  localStorage.removeItem("token");
  if (state.socket) state.socket.close();
  $("auth").hidden = false;
  $("app").hidden = true;
}

// The session token never goes into a URL (proxies log URLs): the socket is opened with a
// single-use ticket that expires in seconds, fetched with the token in a header.
async function connect() {
  if (state.socket) state.socket.close();
  state.socket = null;
  let ticket;
  try {
    ({ ticket } = await api("POST", "/api/ws/ticket"));
  } catch (error) {
    console.warn("live updates unavailable", error.message);
    return;
  }
  if (!state.token) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(
    `${scheme}://${location.host}/api/ws?ticket=${encodeURIComponent(ticket)}`);
  socket.onopen = () => { $("live").textContent = "live"; };
  socket.onclose = () => {
    $("live").textContent = "";
    if (state.socket === socket) state.socket = null;
  };
  socket.onmessage = () => refresh();
  state.socket = socket;
}

function render(items, total) {
  const list = $("todos");
  list.replaceChildren();
  for (const todo of items) {
    const li = document.createElement("li");
    if (todo.status === "done") li.classList.add("done");
    const done = document.createElement("input");
    done.type = "checkbox";
    done.checked = todo.status === "done";
    done.onchange = () =>
      api("PATCH", `/api/todos/${todo.id}`, { status: done.checked ? "done" : "todo" })
        .then(() => {
          if (done.checked) track("todo_completed", { priority: todo.priority });
        })
        .then(refresh).catch(fail);
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = todo.title;
    const badge = document.createElement("span");
    badge.className = `badge ${todo.priority}`;
    badge.textContent = todo.priority;
    const remove = document.createElement("button");
    remove.className = "secondary";
    remove.textContent = "Delete";
    remove.onclick = () => api("DELETE", `/api/todos/${todo.id}`).then(refresh).catch(fail);
    li.append(done, title, badge, remove);
    list.append(li);
  }
  $("count").textContent = `${total} item${total === 1 ? "" : "s"}`;
}

async function refresh() {
  const status = $("filter").value;
  const query = status ? `?status=${status}` : "";
  try {
    const page = await api("GET", `/api/todos${query}`);
    render(page.items, page.total);
  } catch (error) {
    fail(error);
  }
}

$("login-form").onsubmit = async (event) => {
  event.preventDefault();
  showError();
  try {
    const result = await api("POST", "/api/auth/login", {
      email: $("login-email").value,
      password: $("login-password").value,
    });
    track("login");
    signIn(result.token, result.user);
  } catch (error) {
    fail(error);
  }
};

$("signup-form").onsubmit = async (event) => {
  event.preventDefault();
  showError();
  try {
    const result = await api("POST", "/api/auth/signup", {
      name: $("signup-name").value,
      email: $("signup-email").value,
      password: $("signup-password").value,
    });
    track("signup");
    signIn(result.token, result.user);
  } catch (error) {
    fail(error);
  }
};

$("todo-form").onsubmit = async (event) => {
  event.preventDefault();
  showError();
  try {
    const priority = $("todo-priority").value;
    await api("POST", "/api/todos", { title: $("todo-title").value, priority });
    track("todo_created", { priority });
    $("todo-title").value = "";
    refresh();
  } catch (error) {
    fail(error);
  }
};

// For the exercises: an uncaught error, reported by Faro with its stack trace.
function throwDeliberateError() {
  throw new Error("deliberate error from the todo page");
}

$("deliberate-error").onclick = throwDeliberateError;
$("filter").onchange = refresh;
$("logout").onclick = () => api("POST", "/api/auth/logout").catch(() => {}).finally(signOut);

if (state.token) {
  api("GET", "/api/auth/me")
    .then((result) => signIn(state.token, result.user))
    .catch(() => signOut());
}
