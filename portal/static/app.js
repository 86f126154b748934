/* The GitOps page: clusters, their source control configurations, create / delete, and a detail view.
 * Plain JS, no dependencies; talks only to its own origin. The function key lives in sessionStorage and is
 * only ever sent in the x-functions-key header (never in a URL, never logged). */
(() => {
  "use strict";

  const API_VERSION = "2021-03-01";
  const KEY_STORAGE = "gitops.functionKey";
  const SUB_STORAGE = "gitops.subscription";
  const DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";
  const CONFIG_SEGMENT = "/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations";
  const NEVER_APPLIED = "0001-01-01T00:00:00";
  const REFRESH_MS = 2000;
  const OPERATION_POLL_MS = 1500;
  const KEY_POLL_MS = 1500;
  const REFUSED = "The function key was refused.";

  // "/api/gitops/" -> "/api/"; the API lives next to the page.
  const apiRoot = location.pathname.replace(/gitops\/.*$/, "").replace(/gitops$/, "");
  const apiBase = apiRoot.replace(/\/$/, "");

  const $ = (id) => document.getElementById(id);

  class Unauthorized extends Error {}
  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || (status ? `The request failed (HTTP ${status}).` : "The request failed."));
      this.status = status;
      this.code = error.code || null;
      this.target = error.target || null;
    }
  }

  const state = {
    clusters: [],
    clustersLoaded: false,
    clustersFor: null,          // the subscription the cluster list belongs to
    view: null,                 // {view: "list", clusterId} | {view: "detail", id}
    seq: 0,                     // bumps on every view change; stale responses are ignored
    configs: [],
    listTimer: null,
    detailTimer: null,
    detailConfig: null,
    detailSigs: {},
    deletions: new Map(),       // configuration id -> {name, started, timer}
    messages: [],               // progress lines shown in the status region
    keyPoll: null,
    pendingDelete: null,
    deleteOpener: null,
  };

  // ---------------------------------------------------------------------------------------------- helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function setText(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function isNeverApplied(value) {
    return !value || String(value).startsWith(NEVER_APPLIED) || String(value).startsWith("0001-01-01");
  }

  function timeNode(iso) {
    if (!iso || isNeverApplied(iso)) return el("span", { class: "muted", title: "Not yet" }, "—");
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return el("span", {}, iso);
    const local = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    return el("time", { datetime: iso, title: iso }, local);
  }

  // The API's CamelCase values as words ("InProgress" -> "In progress"); the class keeps the raw value.
  const BADGE_WORDS = { InProgress: "In progress", NotStarted: "Not started", ContinuedAsNew: "Continued as new" };

  function badge(value, fallback = "Unknown") {
    const raw = value || fallback;
    const cls = String(raw).toLowerCase().replace(/[^a-z0-9]+/g, "");
    return el("span", { class: `badge badge-${cls}` }, BADGE_WORDS[raw] || raw);
  }

  function base64Utf8(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  function isSshUrl(url) {
    return /^ssh:\/\//i.test(url) || /^[^@/\s:]+@[^:/\s]+:/.test(url);
  }

  function clusterIdOf(configId) {
    const i = configId.indexOf(CONFIG_SEGMENT);
    return i >= 0 ? configId.slice(0, i) : configId;
  }

  function parseClusterId(id) {
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i.exec(id || "");
    return m ? { subscription: m[1], resourceGroup: m[2], type: m[3], name: m[4] } : null;
  }

  function clusterName(clusterId) {
    const known = state.clusters.find((c) => c.id.toLowerCase() === clusterId.toLowerCase());
    if (known) return known.name;
    const parsed = parseClusterId(clusterId);
    return parsed ? parsed.name : clusterId;
  }

  function listHash(clusterId) {
    return `#/clusters/${encodeURIComponent(clusterId)}`;
  }

  function detailHash(configId) {
    return `#/configurations/${encodeURIComponent(configId)}`;
  }

  function getKey() {
    try { return sessionStorage.getItem(KEY_STORAGE); } catch { return null; }
  }

  function subscription() {
    let value = null;
    try { value = sessionStorage.getItem(SUB_STORAGE); } catch { /* storage unavailable */ }
    return value || DEFAULT_SUBSCRIPTION;
  }

  // ---------------------------------------------------------------------------------------------- the API

  /** One call to the API. `path` is a path below the origin (or an absolute same-origin URL). */
  async function api(method, path, body) {
    const key = getKey();
    if (!key) {
      requireSignIn(null);
      throw new Unauthorized();
    }
    // NB: links the API hands out (nextLink, operation URLs) are absolute; only their path is used, so the
    // call stays on this origin whatever host name the server put in them.
    const url = new URL(path, location.origin);
    if (!url.searchParams.has("api-version")) url.searchParams.set("api-version", API_VERSION);
    const headers = { "x-functions-key": key, Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url.pathname + url.search, init);
    } catch {
      throw new ApiError(0, { error: { message: "The GitOps app could not be reached." } });
    }
    if (response.status === 401) {
      requireSignIn(REFUSED);
      throw new Unauthorized();
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return { status: response.status, data, headers: response.headers };
  }

  async function listAll(path) {
    const items = [];
    let next = path;
    let guard = 0;
    while (next && guard++ < 100) {
      const { data } = await api("GET", next);
      items.push(...((data && data.value) || []));
      next = data && data.nextLink;
    }
    return items;
  }

  // ---------------------------------------------------------------------------------------------- sign in

  function requireSignIn(message) {
    try { sessionStorage.removeItem(KEY_STORAGE); } catch { /* ignore */ }
    stopTimers();
    for (const deletion of state.deletions.values()) clearTimeout(deletion.timer);
    state.deletions.clear();
    state.clustersLoaded = false;
    state.seq++;
    if ($("delete-dialog").open) $("delete-dialog").close();
    show($("shell"), false);
    show($("subscription-form"), false);
    show($("sign-out"), false);
    show($("signin"), true);
    setText($("signin-error"), message);
    $("function-key").setAttribute("aria-invalid", message ? "true" : "false");
    if (message) $("function-key").setAttribute("aria-describedby", "signin-error");
    else $("function-key").removeAttribute("aria-describedby");
    $("function-key").focus();
  }

  function onSignIn(event) {
    event.preventDefault();
    const input = $("function-key");
    const key = input.value.trim();
    if (!key) {
      setText($("signin-error"), "Enter the function key.");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "signin-error");
      input.focus();
      return;
    }
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch {
      setText($("signin-error"), "This browser does not allow session storage; the key cannot be kept.");
      return;
    }
    input.value = "";
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
    setText($("signin-error"), "");
    enterApp(true);
  }

  function onSignOut() {
    try { sessionStorage.removeItem(KEY_STORAGE); } catch { /* ignore */ }
    closeDeployKey();
    closeCreateForm(false);
    state.messages = [];
    renderProgress();
    requireSignIn(null);
  }

  function enterApp(focus) {
    show($("signin"), false);
    show($("shell"), true);
    show($("subscription-form"), true);
    show($("sign-out"), true);
    $("subscription").value = subscription();
    route(focus);
  }

  // ---------------------------------------------------------------------------------------------- clusters

  async function loadClusters() {
    const sub = subscription();
    const status = $("clusters-status");
    setText(status, "Loading clusters…");
    try {
      const clusters = await listAll(
        `${apiBase}/subscriptions/${encodeURIComponent(sub)}/providers/Microsoft.Kubernetes/connectedClusters`);
      clusters.sort((a, b) => a.name.localeCompare(b.name));
      state.clusters = clusters;
      state.clustersLoaded = true;
      state.clustersFor = sub;
      setText(status, clusters.length ? "" : "No clusters are registered in this subscription.");
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
      state.clusters = [];
      state.clustersLoaded = true;
      state.clustersFor = sub;
      setText(status, `The clusters could not be loaded: ${error.message}`);
    }
    renderClusters();
  }

  function renderClusters() {
    const list = $("cluster-list");
    const current = state.view && (state.view.view === "list" ? state.view.clusterId
      : state.view.view === "detail" ? clusterIdOf(state.view.id) : null);
    list.replaceChildren(...state.clusters.map((cluster) => {
      const parsed = parseClusterId(cluster.id);
      const selected = current && current.toLowerCase() === cluster.id.toLowerCase();
      const link = el("a", {
        href: listHash(cluster.id),
        class: "cluster-link",
        "aria-current": selected ? (state.view.view === "list" ? "page" : "true") : null,
      },
      el("span", { class: "cluster-name" }, cluster.name),
      el("span", { class: "visually-hidden" }, ", resource group "),
      el("span", { class: "cluster-rg" }, parsed ? parsed.resourceGroup : ""));
      return el("li", {}, link);
    }));
  }

  // ---------------------------------------------------------------------------------------------- routing

  function parseHash() {
    const hash = location.hash;
    try {
      let m = /^#\/configurations\/(.+)$/.exec(hash);
      if (m) return { view: "detail", id: decodeURIComponent(m[1]) };
      m = /^#\/clusters\/(.+)$/.exec(hash);
      if (m) return { view: "list", clusterId: decodeURIComponent(m[1]) };
    } catch { /* malformed escape: fall through */ }
    return { view: "default" };
  }

  function stopTimers() {
    clearTimeout(state.listTimer);
    clearTimeout(state.detailTimer);
    state.listTimer = state.detailTimer = null;
  }

  async function route(focus = true) {
    if (!getKey()) {
      requireSignIn(null);
      return;
    }
    const seq = ++state.seq;
    stopTimers();
    try {
      if (!state.clustersLoaded || state.clustersFor !== subscription()) await loadClusters();
    } catch (error) {
      if (error instanceof Unauthorized) return;
      throw error;
    }
    if (seq !== state.seq) return;
    let target = parseHash();
    if (target.view === "default") {
      if (!state.clusters.length) {
        state.view = null;
        renderClusters();
        show($("list-view"), false);
        show($("detail-view"), false);
        return;
      }
      history.replaceState(null, "", listHash(state.clusters[0].id));
      target = { view: "list", clusterId: state.clusters[0].id };
    }
    state.view = target;
    renderClusters();
    if (target.view === "list") showList(target.clusterId, seq, focus);
    else showDetail(target.id, seq, focus);
  }

  // ---------------------------------------------------------------------------------------------- list view

  function showList(clusterId, seq, focus) {
    show($("detail-view"), false);
    show($("list-view"), true);
    const name = clusterName(clusterId);
    const parsed = parseClusterId(clusterId);
    $("list-heading").textContent = name;
    const cluster = state.clusters.find((c) => c.id.toLowerCase() === clusterId.toLowerCase());
    const bits = [];
    if (parsed) bits.push(`Resource group ${parsed.resourceGroup}`, parsed.type.split("/")[1]);
    if (cluster && cluster.properties && cluster.properties.provisioningState) {
      bits.push(`provisioning ${cluster.properties.provisioningState}`);
    }
    $("list-sub").textContent = bits.join(" · ");
    $("config-caption").textContent = `Configurations on ${name}`;
    if ($("config-table").dataset.cluster !== clusterId) {
      $("config-rows").replaceChildren(el("tr", { class: "loading-row" },
        el("td", { colspan: 8, class: "muted" }, "Loading configurations…")));
      $("config-table").dataset.cluster = clusterId;
      closeCreateForm(false);
      clearFormErrors();
    }
    setText($("list-error"), "");
    document.title = `${name} · GitOps`;
    if (focus) $("list-heading").focus();
    loadList(seq);
  }

  async function loadList(seq) {
    if (seq !== state.seq || !state.view || state.view.view !== "list") return;
    clearTimeout(state.listTimer);
    const clusterId = state.view.clusterId;
    try {
      const configs = await listAll(`${apiBase}${clusterId}${CONFIG_SEGMENT}`);
      if (seq !== state.seq) return;
      state.configs = configs;
      setText($("list-error"), "");
      renderRows(configs);
    } catch (error) {
      if (error instanceof Unauthorized || seq !== state.seq) return;
      setText($("list-error"), `The configurations could not be loaded: ${error.message}`);
      if (!$("config-rows").querySelector("tr[data-name]")) {
        $("config-rows").replaceChildren(el("tr", { class: "empty-row" },
          el("td", { colspan: 8, class: "muted" }, "The configurations could not be loaded.")));
      }
    }
    scheduleList(seq);
  }

  function isPending(config) {
    const p = config.properties || {};
    const compliance = (p.complianceStatus || {}).complianceState;
    return compliance === "Pending" || ["Accepted", "Running", "Deleting"].includes(p.provisioningState);
  }

  function scheduleList(seq) {
    clearTimeout(state.listTimer);
    const auto = state.configs.some(isPending) || state.deletions.size > 0;
    show($("list-autorefresh"), auto);
    if (auto) state.listTimer = setTimeout(() => loadList(seq), REFRESH_MS);
  }

  function rowSignature(config) {
    const p = config.properties || {};
    const c = p.complianceStatus || {};
    return JSON.stringify([config.id, p.repositoryUrl, p.operatorNamespace, p.operatorScope, c.complianceState,
      c.lastConfigApplied, c.message, c.messageLevel, p.provisioningState]);
  }

  function buildRow(config) {
    const p = config.properties || {};
    const c = p.complianceStatus || {};
    const message = c.message || "";
    const row = el("tr", { dataset: { name: config.name, id: config.id } },
      el("th", { scope: "row", "data-label": "Name", class: "cell-name" },
        el("a", { href: detailHash(config.id) }, config.name)),
      el("td", { "data-label": "Repository URL", class: "cell-url" }, el("span", { class: "mono" }, p.repositoryUrl || "")),
      el("td", { "data-label": "Operator namespace" }, p.operatorNamespace || ""),
      el("td", { "data-label": "Scope" }, p.operatorScope || ""),
      el("td", { "data-label": "Compliance" }, badge(c.complianceState)),
      el("td", { "data-label": "Last applied" }, timeNode(c.lastConfigApplied)),
      el("td", { "data-label": "Message", class: "cell-message" },
        message ? el("span", { class: "clamp", title: message }, message) : el("span", { class: "muted" }, "—")),
      el("td", { "data-label": "Actions", class: "cell-actions" },
        el("button", {
          type: "button", class: "btn btn-small btn-danger-outline", "aria-label": `Delete ${config.name}`,
          "data-action": "delete",
        }, "Delete")));
    row.dataset.sig = rowSignature(config);
    return row;
  }

  function renderRows(configs) {
    const tbody = $("config-rows");
    if (!configs.length) {
      tbody.replaceChildren(el("tr", { class: "empty-row" },
        el("td", { colspan: 8 }, "No configurations on this cluster yet.")));
      return;
    }
    const existing = new Map([...tbody.querySelectorAll("tr[data-name]")].map((r) => [r.dataset.name, r]));
    const wanted = configs.map((config) => {
      const old = existing.get(config.name);
      if (old && old.dataset.sig === rowSignature(config)) return old;
      const row = buildRow(config);
      if (old && old.contains(document.activeElement)) {
        const action = document.activeElement.dataset.action;
        queueMicrotask(() => {
          const again = action ? row.querySelector(`[data-action="${action}"]`) : row.querySelector("a");
          if (again) again.focus();
        });
      }
      return row;
    });
    // NB: rows are moved in place (not all replaced) so a focused, unchanged row keeps its focus.
    const keep = new Set(wanted);
    for (const child of [...tbody.children]) if (!keep.has(child)) child.remove();
    wanted.forEach((row, i) => {
      if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
    });
  }

  // ---------------------------------------------------------------------------------------------- create form

  const FIELDS = {
    name: "cfg-name",
    repositoryUrl: "cfg-repository-url",
    operatorInstanceName: "cfg-operator-instance-name",
    operatorNamespace: "cfg-operator-namespace",
    operatorScope: "cfg-operator-scope",
    operatorParams: "cfg-operator-params",
    enableHelmOperator: "cfg-enable-helm",
    chartVersion: "cfg-chart-version",
    chartValues: "cfg-chart-values",
    httpsUser: "cfg-https-user",
    httpsKey: "cfg-https-key",
    sshPrivateKey: "cfg-ssh-private-key",
    sshKnownHosts: "cfg-ssh-known-hosts",
  };

  const TARGETS = {
    "name": FIELDS.name,
    "properties.repositoryurl": FIELDS.repositoryUrl,
    "properties.operatorinstancename": FIELDS.operatorInstanceName,
    "properties.operatornamespace": FIELDS.operatorNamespace,
    "properties.operatorscope": FIELDS.operatorScope,
    "properties.operatortype": FIELDS.operatorScope,
    "properties.operatorparams": FIELDS.operatorParams,
    "properties.enablehelmoperator": FIELDS.enableHelmOperator,
    "properties.helmoperatorproperties": FIELDS.chartVersion,
    "properties.helmoperatorproperties.chartversion": FIELDS.chartVersion,
    "properties.helmoperatorproperties.chartvalues": FIELDS.chartValues,
    "properties.sshknownhostscontents": FIELDS.sshKnownHosts,
    "properties.configurationprotectedsettings": FIELDS.sshPrivateKey,
    "properties.configurationprotectedsettings.sshprivatekey": FIELDS.sshPrivateKey,
    "properties.configurationprotectedsettings.httpsuser": FIELDS.httpsUser,
    "properties.configurationprotectedsettings.httpskey": FIELDS.httpsKey,
  };

  function fieldFor(target) {
    if (!target) return null;
    const key = String(target).toLowerCase();
    return TARGETS[key] || TARGETS[key.replace(/^properties\./, "properties.")] || null;
  }

  function openCreateForm() {
    show($("create-section"), true);
    $("new-config").setAttribute("aria-expanded", "true");
    $("create-heading").focus();
  }

  function closeCreateForm(focusButton = true) {
    show($("create-section"), false);
    $("new-config").setAttribute("aria-expanded", "false");
    if (focusButton) $("new-config").focus();
  }

  function resetCreateForm() {
    $("create-form").reset();
    clearFormErrors();
  }

  function clearFormErrors() {
    setText($("create-error"), "");
    for (const id of Object.values(FIELDS)) {
      const input = $(id);
      input.removeAttribute("aria-invalid");
      const error = $(`error-${id}`);
      if (error) error.remove();
      const hint = $(`hint-${id}`);
      if (hint) input.setAttribute("aria-describedby", hint.id);
      else input.removeAttribute("aria-describedby");
    }
  }

  function setFieldError(id, message) {
    const input = $(id);
    let error = $(`error-${id}`);
    if (!error) {
      error = el("p", { class: "field-error", id: `error-${id}` });
      const field = input.closest(".field");
      const label = field.querySelector("label");
      if (input.type === "checkbox") field.append(error);
      else input.after(error);
      void label;
    }
    error.textContent = message;
    input.setAttribute("aria-invalid", "true");
    const hint = $(`hint-${id}`);
    input.setAttribute("aria-describedby", hint ? `error-${id} ${hint.id}` : `error-${id}`);
  }

  function readForm() {
    const value = (id) => $(id).value;
    const name = value(FIELDS.name).trim();
    const repositoryUrl = value(FIELDS.repositoryUrl).trim();
    const properties = { repositoryUrl, operatorType: "Flux", operatorScope: value(FIELDS.operatorScope) };
    const instance = value(FIELDS.operatorInstanceName).trim();
    if (instance) properties.operatorInstanceName = instance;
    const namespace = value(FIELDS.operatorNamespace).trim();
    if (namespace) properties.operatorNamespace = namespace;
    const params = value(FIELDS.operatorParams).trim();
    if (params) properties.operatorParams = params;
    const helm = $(FIELDS.enableHelmOperator).checked;
    properties.enableHelmOperator = helm;
    if (helm) {
      const helmProps = {};
      const version = value(FIELDS.chartVersion).trim();
      const values = value(FIELDS.chartValues).trim();
      if (version) helmProps.chartVersion = version;
      if (values) helmProps.chartValues = values;
      properties.helmOperatorProperties = helmProps;
    }
    const knownHosts = value(FIELDS.sshKnownHosts);
    if (knownHosts.trim()) properties.sshKnownHostsContents = base64Utf8(knownHosts);
    const protectedSettings = {};
    const privateKey = value(FIELDS.sshPrivateKey);
    if (privateKey.trim()) protectedSettings.sshPrivateKey = base64Utf8(privateKey);
    const user = value(FIELDS.httpsUser);
    if (user) protectedSettings.httpsUser = base64Utf8(user);
    const httpsKey = value(FIELDS.httpsKey);
    if (httpsKey) protectedSettings.httpsKey = base64Utf8(httpsKey);
    if (Object.keys(protectedSettings).length) properties.configurationProtectedSettings = protectedSettings;
    return { name, properties, hasPrivateKey: Boolean(privateKey.trim()) };
  }

  async function onCreate(event) {
    event.preventDefault();
    if (!state.view || state.view.view !== "list") return;
    clearFormErrors();
    const { name, properties, hasPrivateKey } = readForm();
    const missing = [];
    if (!name) missing.push([FIELDS.name, "Enter a name for the configuration."]);
    if (!properties.repositoryUrl) missing.push([FIELDS.repositoryUrl, "Enter the repository URL."]);
    if (missing.length) {
      for (const [id, message] of missing) setFieldError(id, message);
      $(missing[0][0]).focus();
      return;
    }
    const clusterId = state.view.clusterId;
    const seq = state.seq;
    const submit = $("create-submit");
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      const { data } = await api("PUT", `${apiBase}${clusterId}${CONFIG_SEGMENT}/${encodeURIComponent(name)}`,
        { properties });
      resetCreateForm();
      closeCreateForm(true);
      if (isSshUrl(properties.repositoryUrl) && !hasPrivateKey && data && data.id) {
        startDeployKey(data);
      }
      if (seq === state.seq) {
        if (data && !state.configs.some((c) => c.name === data.name)) {
          state.configs = [...state.configs, data].sort((a, b) => a.name.localeCompare(b.name));
          renderRows(state.configs);
        }
        loadList(seq);
      }
    } catch (error) {
      if (error instanceof Unauthorized) return;
      const field = fieldFor(error.target);
      if (field) {
        setFieldError(field, error.message);
        $(field).focus();
      } else {
        setText($("create-error"), error.message);
        $("create-error").scrollIntoView({ block: "nearest" });
      }
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  }

  // ---------------------------------------------------------------------------------------------- deploy key

  function closeDeployKey() {
    if (state.keyPoll) clearTimeout(state.keyPoll.timer);
    state.keyPoll = null;
    show($("deploy-key"), false);
  }

  function startDeployKey(config) {
    closeDeployKey();
    const poll = { id: config.id, name: config.name, url: config.properties.repositoryUrl, started: Date.now(), timer: null };
    state.keyPoll = poll;
    show($("deploy-key"), true);
    show($("deploy-key-body"), false);
    show($("copy-key"), false);
    $("public-key").value = "";
    $("copy-result").textContent = "";
    $("deploy-key-status").textContent =
      `Waiting for Flux to generate the key for ${config.name}…`;
    const tick = async () => {
      if (state.keyPoll !== poll) return;
      let current = null;
      try {
        current = (await api("GET", `${apiBase}${poll.id}`)).data;
      } catch (error) {
        if (error instanceof Unauthorized || state.keyPoll !== poll) return;
        if (error.status === 404) {
          $("deploy-key-status").textContent = `${poll.name} no longer exists.`;
          return;
        }
      }
      if (state.keyPoll !== poll) return;
      const p = (current && current.properties) || {};
      const compliance = (p.complianceStatus || {});
      if (p.repositoryPublicKey) {
        showPublicKey(poll, p.repositoryPublicKey);
        return;
      }
      if (compliance.complianceState === "Failed" || p.provisioningState === "Failed") {
        $("deploy-key-status").textContent =
          `The workflow of ${poll.name} failed before a key was generated: ${compliance.message || "no message"}`;
        return;
      }
      if (Date.now() - poll.started > 10 * 60 * 1000) {
        $("deploy-key-status").textContent = `No key was generated for ${poll.name} within 10 minutes.`;
        return;
      }
      poll.timer = setTimeout(tick, KEY_POLL_MS);
    };
    poll.timer = setTimeout(tick, KEY_POLL_MS);
  }

  function showPublicKey(poll, key) {
    $("deploy-key-status").textContent = `Flux generated a key pair for ${poll.name}.`;
    $("public-key").value = key;
    $("deploy-key-hint").textContent =
      `Add this public key as a deploy key to the repository ${poll.url} (read-only access is enough unless ` +
      "--git-user or --git-email is set). Flux uses it on its next sync.";
    show($("deploy-key-body"), true);
    show($("copy-key"), true);
  }

  async function copyText(textarea, result) {
    const text = textarea.value;
    try {
      await navigator.clipboard.writeText(text);
      result.textContent = "Copied to the clipboard.";
    } catch {
      textarea.focus();
      textarea.select();
      result.textContent = "Copying is not allowed here: the key is selected, press Ctrl+C (⌘C) to copy it.";
    }
  }

  // ---------------------------------------------------------------------------------------------- delete

  function askDelete(config, opener) {
    state.pendingDelete = config;
    state.deleteOpener = opener;
    $("delete-text").textContent =
      `Delete the configuration ${config.name} from the cluster ${clusterName(clusterIdOf(config.id))}?`;
    $("delete-dialog").showModal();
    $("delete-cancel").focus();
  }

  function onDeleteDialogClose() {
    const opener = state.deleteOpener;
    state.deleteOpener = null;
    if (opener && opener.isConnected) opener.focus();
    else if (state.view && state.view.view === "list") $("list-heading").focus();
  }

  async function confirmDelete() {
    const config = state.pendingDelete;
    state.pendingDelete = null;
    $("delete-dialog").close();
    if (!config) return;
    const fromDetail = state.view && state.view.view === "detail";
    const message = { id: config.id, text: `Deleting ${config.name}…`, elapsed: "", level: "progress" };
    pushMessage(message);
    let response;
    try {
      response = await api("DELETE", `${apiBase}${config.id}`);
    } catch (error) {
      if (error instanceof Unauthorized) return;
      updateMessage(message, `Deleting ${config.name} failed: ${error.message}`, "", "error");
      return;
    }
    state.configs = state.configs.filter((c) => c.id !== config.id);
    if (state.view && state.view.view === "list") renderRows(state.configs);
    if (fromDetail) location.hash = listHash(clusterIdOf(config.id));
    const operation = response.headers.get("Azure-AsyncOperation") || response.headers.get("Location");
    if (response.status === 204 || !operation) {
      updateMessage(message, `${config.name} deleted`, "", "done");
      refreshCurrent();
      return;
    }
    const deletion = { name: config.name, started: Date.now(), timer: null };
    state.deletions.set(config.id, deletion);
    refreshCurrent();
    const tick = async () => {
      let op = null;
      try {
        op = (await api("GET", operation)).data || {};
      } catch (error) {
        if (error instanceof Unauthorized) return;
        finish(`Deleting ${config.name} failed: ${error.message}`, "error");
        return;
      }
      if (op.status === "InProgress" || !op.status) {
        const seconds = Math.round((Date.now() - deletion.started) / 1000);
        updateMessage(message, `Deleting ${config.name}… operator objects are being removed`, ` (${seconds} s)`, "progress");
        deletion.timer = setTimeout(tick, OPERATION_POLL_MS);
      } else if (op.status === "Succeeded") {
        finish(`${config.name} deleted`, "done");
      } else {
        const reason = (op.error && op.error.message) || op.status;
        finish(`Deleting ${config.name} failed: ${reason}`, "error");
      }
    };
    const finish = (text, level) => {
      state.deletions.delete(config.id);
      updateMessage(message, text, "", level);
      refreshCurrent();
    };
    updateMessage(message, `Deleting ${config.name}… operator objects are being removed`, " (0 s)", "progress");
    deletion.timer = setTimeout(tick, OPERATION_POLL_MS);
  }

  function refreshCurrent() {
    if (state.view && state.view.view === "list") loadList(state.seq);
  }

  function pushMessage(message) {
    // NB: one line per configuration; only the last few finished lines stay so the region stays short.
    const others = state.messages.filter((m) => m.id !== message.id);
    const finished = others.filter((m) => m.level !== "progress").slice(-3);
    state.messages = others.filter((m) => m.level === "progress" || finished.includes(m));
    state.messages.push(message);
    renderProgress();
  }

  function updateMessage(message, text, elapsed, level) {
    message.text = text;
    message.elapsed = elapsed;
    message.level = level;
    renderProgress();
  }

  function renderProgress() {
    const region = $("progress");
    const lines = state.messages.map((m) => el("p", { class: `progress-line progress-${m.level}` },
      m.level === "progress" ? el("span", { class: "spinner", "aria-hidden": "true" }) : null,
      el("span", { class: "progress-text" }, m.text,
        m.elapsed ? el("span", { class: "elapsed" }, m.elapsed) : null),
      m.level !== "progress" ? el("button", {
        type: "button", class: "btn-link dismiss", "data-dismiss": m.id, "aria-label": `Dismiss: ${m.text}`,
        title: "Dismiss",
      }) : null));
    region.replaceChildren(...lines);
    region.classList.toggle("has-lines", lines.length > 0);
  }

  // ---------------------------------------------------------------------------------------------- detail view

  function showDetail(configId, seq, focus) {
    show($("list-view"), false);
    show($("detail-view"), true);
    const clusterId = clusterIdOf(configId);
    const name = configId.split("/").pop();
    $("detail-heading").textContent = name;
    $("detail-sub").textContent = `Configuration on ${clusterName(clusterId)}`;
    $("back-link").setAttribute("href", listHash(clusterId));
    document.title = `${name} · GitOps`;
    if (state.detailConfig && state.detailConfig.id !== configId) {
      state.detailSigs = {};
      $("props").replaceChildren();
      $("workflow").replaceChildren(el("p", { class: "muted" }, "Loading…"));
      $("objects").replaceChildren(el("p", { class: "muted" }, "Loading…"));
    } else if (!state.detailConfig) {
      state.detailSigs = {};
      $("workflow").replaceChildren(el("p", { class: "muted" }, "Loading…"));
      $("objects").replaceChildren(el("p", { class: "muted" }, "Loading…"));
    }
    state.detailConfig = { id: configId };
    setText($("detail-error"), "");
    show($("detail-body"), true);
    show($("delete-detail"), false);
    if (focus) $("detail-heading").focus();
    loadDetail(seq);
  }

  async function loadDetail(seq) {
    if (seq !== state.seq || !state.view || state.view.view !== "detail") return;
    clearTimeout(state.detailTimer);
    const id = state.view.id;
    const [config, workflow, objects] = await Promise.allSettled([
      api("GET", `${apiBase}${id}`),
      api("GET", `${apiBase}${id}/workflow`),
      api("GET", `${apiBase}${id}/operatorObjects`),
    ]);
    if (seq !== state.seq) return;
    if ([config, workflow, objects].some((r) => r.status === "rejected" && r.reason instanceof Unauthorized)) return;
    if (config.status === "rejected") {
      const error = config.reason;
      show($("delete-detail"), false);
      if (error.status === 404) {
        setText($("detail-error"), `The configuration ${id.split("/").pop()} does not exist (it may have been deleted).`);
        show($("detail-body"), false);
        show($("detail-autorefresh"), false);
        return;
      }
      setText($("detail-error"), `The configuration could not be loaded: ${error.message}`);
    } else {
      setText($("detail-error"), "");
      show($("detail-body"), true);
      state.detailConfig = config.value.data;
      show($("delete-detail"), true);
      $("delete-detail").setAttribute("aria-label", `Delete ${state.detailConfig.name}`);
      renderIfChanged("props", state.detailConfig, renderProperties);
    }
    renderIfChanged("workflow", settledView(workflow), renderWorkflow);
    renderIfChanged("objects", settledView(objects), renderObjects);

    const pending = config.status === "fulfilled" && isPending(config.value.data);
    const running = workflow.status === "fulfilled" && workflow.value.data
      && ["Pending", "Running", "ContinuedAsNew"].includes(workflow.value.data.runtimeStatus);
    const auto = pending || running || config.status === "rejected";
    show($("detail-autorefresh"), pending || running);
    if (auto) state.detailTimer = setTimeout(() => loadDetail(seq), REFRESH_MS);
  }

  function settledView(result) {
    if (result.status === "fulfilled") return { data: result.value.data };
    return { error: result.reason };
  }

  function renderIfChanged(key, value, render) {
    const sig = JSON.stringify(value, (k, v) => (v instanceof Error ? { status: v.status, message: v.message } : v));
    if (state.detailSigs[key] === sig) return;
    state.detailSigs[key] = sig;
    render(value);
  }

  function prop(label, ...value) {
    return el("div", { class: "prop" }, el("dt", {}, label), el("dd", {}, ...value));
  }

  function renderProperties(config) {
    const p = config.properties || {};
    const c = p.complianceStatus || {};
    const s = config.systemData || {};
    const helm = p.helmOperatorProperties;
    const items = [
      prop("Name", config.name),
      prop("Cluster", clusterName(clusterIdOf(config.id))),
      prop("Repository URL", el("span", { class: "mono break" }, p.repositoryUrl || "")),
      prop("Operator instance name", p.operatorInstanceName || "—"),
      prop("Operator namespace", p.operatorNamespace || "—"),
      prop("Operator scope", p.operatorScope || "—"),
      prop("Operator type", p.operatorType || "—"),
      prop("Operator parameters", p.operatorParams ? el("span", { class: "mono" }, p.operatorParams) : "—"),
      prop("Helm operator", p.enableHelmOperator
        ? `Enabled${helm && helm.chartVersion ? `, chart ${helm.chartVersion}` : ""}` : "Disabled"),
    ];
    if (p.enableHelmOperator && helm && helm.chartValues) {
      items.push(prop("Helm chart values", el("span", { class: "mono" }, helm.chartValues)));
    }
    items.push(
      prop("SSH known hosts", p.sshKnownHostsContents ? "Provided" : "None"),
      prop("Provisioning state", badge(p.provisioningState)),
      prop("Compliance", badge(c.complianceState)),
      prop("Last applied", timeNode(c.lastConfigApplied)),
      prop("Message", c.message ? el("span", { class: "break" }, c.message) : "—"),
      prop("Message level", c.messageLevel || "—"),
      prop("Created", timeNode(s.createdAt)),
      prop("Last modified", timeNode(s.lastModifiedAt)),
    );
    if (p.repositoryPublicKey) {
      const area = el("textarea", { id: "detail-public-key", class: "mono", rows: 3, readonly: true, spellcheck: "false",
        "aria-label": "Public key" });
      area.value = p.repositoryPublicKey;
      const result = el("span", { class: "muted", "aria-live": "polite" });
      const copy = el("button", { type: "button", class: "btn btn-small" }, "Copy public key");
      copy.addEventListener("click", () => copyText(area, result));
      items.push(el("div", { class: "prop prop-wide" }, el("dt", {}, "Repository public key"),
        el("dd", {}, area, el("p", { class: "hint" },
          "Add it as a deploy key to the repository so Flux can read it."), el("div", { class: "actions" }, copy, result))));
    } else {
      items.push(prop("Repository public key", isSshUrl(p.repositoryUrl || "") ? "Not generated yet" : "None"));
    }
    items.push(el("div", { class: "prop prop-wide" }, el("dt", {}, "Resource id"),
      el("dd", {}, el("span", { class: "mono break" }, config.id))));
    $("props").replaceChildren(...items);
  }

  function notAvailable(error, what) {
    if (error.status === 404) return el("p", { class: "muted" }, `${what} not available.`);
    return el("p", { class: "form-error" }, `${what} could not be loaded: ${error.message}`);
  }

  function renderWorkflow(view) {
    const box = $("workflow");
    if (view.error) {
      box.replaceChildren(notAvailable(view.error, "The workflow is"));
      return;
    }
    const w = view.data || {};
    const summary = el("dl", { class: "props props-compact" },
      prop("Runtime status", w.runtimeStatus ? badge(w.runtimeStatus) : el("span", { class: "muted" }, "None")),
      w.customStatus && ["Pending", "Running", "ContinuedAsNew"].includes(w.runtimeStatus)
        ? prop("Current activity", String(w.customStatus)) : null,
      prop("Started", timeNode(w.createdTime)),
      prop("Last updated", timeNode(w.lastUpdatedTime)),
      w.instanceId ? prop("Instance", el("span", { class: "mono break" }, w.instanceId)) : null);
    const steps = el("ol", { class: "steps" }, ...(w.steps || []).map((step) => {
      const cls = String(step.status || "").toLowerCase();
      return el("li", { class: `step step-${cls}`, dataset: { step: step.name } },
        el("div", { class: "step-head" },
          el("span", { class: "step-title" }, step.title || step.name),
          badge(step.status)),
        el("div", { class: "step-time" }, step.time ? timeNode(step.time) : el("span", { class: "muted" }, "—")),
        step.detail ? el("p", { class: "step-detail" }, step.detail) : null);
    }));
    box.replaceChildren(...[summary,
      w.message ? el("p", { class: "muted" }, w.message) : null,
      (w.steps || []).length ? steps : null].filter(Boolean));
  }

  function renderObjects(view) {
    const box = $("objects");
    if (view.error) {
      box.replaceChildren(notAvailable(view.error, "The operator objects are"));
      return;
    }
    const data = view.data || {};
    const cluster = data.cluster || {};
    const objects = data.value || [];
    const parts = [];
    if (cluster.reachable === false) {
      parts.push(el("p", { class: "warning" },
        `The cluster is not reachable${cluster.message ? `: ${cluster.message}` : "."}`));
    } else if (cluster.message) {
      parts.push(el("p", { class: "muted" }, cluster.message));
    }
    if (!objects.length) {
      parts.push(el("p", { class: "muted" }, "No operator objects on the cluster."));
    } else {
      const table = el("table", { class: "data-table objects-table" },
        el("caption", { class: "visually-hidden" }, "Operator objects on the cluster"),
        el("thead", {}, el("tr", {},
          ...["Kind", "Namespace", "Name", "State", "Detail", "Created"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...objects.map((o) => el("tr", { dataset: { kind: o.kind, name: o.name } },
          el("td", { "data-label": "Kind" }, o.kind, o.apiVersion ? el("span", { class: "sub muted" }, o.apiVersion) : null),
          el("td", { "data-label": "Namespace" }, o.namespace || el("span", { class: "muted" }, "—")),
          el("th", { scope: "row", "data-label": "Name", class: "mono" }, o.name),
          el("td", { "data-label": "State" }, badge(o.state)),
          el("td", { "data-label": "Detail" }, o.detail ? el("span", { class: "break" }, o.detail) : el("span", { class: "muted" }, "—")),
          el("td", { "data-label": "Created" }, timeNode(o.createdAt))))));
      parts.push(el("div", { class: "table-wrap" }, table));
    }
    box.replaceChildren(...parts);
  }

  // ---------------------------------------------------------------------------------------------- wiring

  function init() {
    $("signin-form").addEventListener("submit", onSignIn);
    $("sign-out").addEventListener("click", onSignOut);
    $("skip-link").addEventListener("click", (event) => {
      event.preventDefault();
      const target = $("shell").hidden ? $("signin-heading") : $("main");
      target.focus();
    });
    $("subscription-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("subscription").value.trim() || DEFAULT_SUBSCRIPTION;
      $("subscription").value = value;
      try { sessionStorage.setItem(SUB_STORAGE, value); } catch { /* ignore */ }
      state.clustersLoaded = false;
      const target = parseHash();
      const currentSub = target.view === "list" ? parseClusterId(target.clusterId)
        : target.view === "detail" ? parseClusterId(clusterIdOf(target.id)) : null;
      if (currentSub && currentSub.subscription !== value) history.replaceState(null, "", "#/");
      route(true);
    });
    $("subscription").addEventListener("change", () => $("subscription-form").requestSubmit());

    // NB: opens (never toggles): a second click while a create is in flight must not close the form.
    $("new-config").addEventListener("click", openCreateForm);
    $("create-cancel").addEventListener("click", () => {
      resetCreateForm();
      closeCreateForm(true);
    });
    $("create-form").addEventListener("submit", onCreate);
    $("create-form").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeCreateForm(true);
      }
    });
    $("refresh-list").addEventListener("click", () => {
      state.clustersLoaded = false;
      loadClusters().then(() => {
        showList(state.view.clusterId, state.seq, false);
      }, () => {});
    });
    $("refresh-detail").addEventListener("click", () => loadDetail(state.seq));

    $("config-rows").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action=delete]");
      if (!button) return;
      const row = button.closest("tr");
      const config = state.configs.find((c) => c.name === row.dataset.name)
        || { id: row.dataset.id, name: row.dataset.name };
      askDelete(config, button);
    });
    $("delete-detail").addEventListener("click", (event) => {
      if (state.detailConfig && state.detailConfig.name) askDelete(state.detailConfig, event.currentTarget);
    });
    $("delete-confirm").addEventListener("click", confirmDelete);
    $("delete-cancel").addEventListener("click", () => {
      state.pendingDelete = null;
      $("delete-dialog").close();
    });
    $("delete-dialog").addEventListener("close", onDeleteDialogClose);

    $("copy-key").addEventListener("click", () => copyText($("public-key"), $("copy-result")));
    $("deploy-key-close").addEventListener("click", () => {
      closeDeployKey();
      $("list-heading").focus();
    });
    $("progress").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-dismiss]");
      if (!button) return;
      state.messages = state.messages.filter((m) => m.id !== button.dataset.dismiss);
      renderProgress();
      $("main").focus();
    });

    window.addEventListener("hashchange", () => route(true));

    if (getKey()) enterApp(false);
    else requireSignIn(null);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
