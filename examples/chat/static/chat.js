// The chat page: plain JavaScript on the official Socket.IO client (`io` comes from
// /socket.io/socket.io.js). The server side is examples/chat/app.rs.
'use strict';

const $ = (id) => document.getElementById(id);

const TYPING_IDLE_MS = 2000; // stop "typing" after this long without a key
const TYPING_EXPIRY_MS = 5000; // forget someone's "typing" after this long without news
const ACK_TIMEOUT_MS = 5000;

const state = {
  nick: sessionStorage.getItem('nick') || '',
  socket: null,
  rooms: new Map(), // name -> { messages: [], members: [], unread: 0, typing: Map(nick -> timer) }
  current: null,
  typingSent: false,
  typingTimer: null,
  localId: 0,
};

// ----- connection --------------------------------------------------------------------------

function start(nick) {
  state.nick = nick;
  const socket = io({
    // Sent with every (re)connection: the server puts us back in our rooms before it
    // handles anything the client buffered while offline.
    auth: (cb) => cb({ nick: state.nick, rooms: [...state.rooms.keys()] }),
  });
  state.socket = socket;

  socket.on('connect', () => setStatus('online'));
  socket.on('disconnect', () => setStatus(socket.active ? 'reconnecting' : 'offline'));
  socket.io.on('reconnect_attempt', () => setStatus('reconnecting'));
  socket.io.on('reconnect', () => systemLine(state.current, 'Reconnected.'));
  socket.on('connect_error', (err) => {
    if (socket.active) {
      setStatus('reconnecting');
    } else {
      // Refused by the server (e.g. the nickname): back to the login form.
      socket.close();
      state.socket = null;
      sessionStorage.removeItem('nick');
      $('login-error').textContent = err.message;
      $('app').hidden = true;
      $('login').hidden = false;
    }
  });

  socket.on('welcome', ({ nick, rooms, suggested }) => {
    sessionStorage.setItem('nick', nick);
    $('me').textContent = nick;
    $('login').hidden = true;
    $('app').hidden = false;
    renderSuggested(suggested);
    for (const room of rooms) ensureRoom(room);
    if (state.rooms.size === 0) join(suggested[0]);
    else render();
    $('text').focus();
  });

  socket.on('online', (n) => {
    $('online').textContent = String(n);
  });

  socket.on('message', (msg) => addMessage(msg.room, { ...msg, mine: false }));

  socket.on('typing', ({ room, nick, typing }) => {
    const r = state.rooms.get(room);
    if (!r) return;
    clearTimeout(r.typing.get(nick));
    if (typing) {
      r.typing.set(nick, setTimeout(() => {
        r.typing.delete(nick);
        renderTyping();
      }, TYPING_EXPIRY_MS));
    } else {
      r.typing.delete(nick);
    }
    renderTyping();
  });

  socket.on('joined', ({ room, nick, members }) => {
    const r = state.rooms.get(room);
    if (!r) return;
    r.members = members;
    renderRooms();
    systemLine(room, `${nick} joined #${room}`);
  });

  socket.on('left', ({ room, nick, members }) => {
    const r = state.rooms.get(room);
    if (!r) return;
    r.members = members;
    clearTimeout(r.typing.get(nick));
    r.typing.delete(nick);
    renderRooms();
    renderTyping();
    systemLine(room, `${nick} left #${room}`);
  });
}

function setStatus(status) {
  const el = $('status');
  el.dataset.state = status;
  el.textContent = status;
  $('banner').hidden = status === 'online' || status === 'connecting';
}

// ----- rooms -------------------------------------------------------------------------------

function ensureRoom(name) {
  if (!state.rooms.has(name)) {
    state.rooms.set(name, { messages: [], members: [], unread: 0, typing: new Map() });
  }
  if (!state.current) state.current = name;
  return state.rooms.get(name);
}

function join(name) {
  $('join-error').textContent = '';
  state.socket.timeout(ACK_TIMEOUT_MS).emit('join', name, (err, res) => {
    if (err || !res.ok) {
      $('join-error').textContent = err ? 'The server did not answer.' : res.error;
      return;
    }
    const room = ensureRoom(res.room);
    room.members = res.members;
    state.current = res.room;
    render();
    systemLine(res.room, `You joined #${res.room}`);
  });
}

function leave(name) {
  stopTyping();
  state.socket.timeout(ACK_TIMEOUT_MS).emit('leave', name, () => {});
  const room = state.rooms.get(name);
  if (room) room.typing.forEach((timer) => clearTimeout(timer));
  state.rooms.delete(name);
  if (state.current === name) state.current = state.rooms.keys().next().value ?? null;
  render();
}

function select(name) {
  stopTyping();
  state.current = name;
  render();
  $('text').focus();
}

// ----- messages ----------------------------------------------------------------------------

function addMessage(roomName, msg) {
  const room = state.rooms.get(roomName);
  if (!room) return;
  room.messages.push(msg);
  if (room.messages.length > 500) room.messages.shift();
  if (!msg.mine) {
    clearTimeout(room.typing.get(msg.from));
    room.typing.delete(msg.from);
  }
  if (roomName === state.current) {
    $('messages').append(messageElement(msg));
    scrollDown();
    renderTyping();
  } else if (!msg.system) {
    room.unread += 1;
    renderRooms();
  }
}

function systemLine(roomName, text) {
  if (roomName) addMessage(roomName, { system: true, text, at: Date.now() });
}

function send(text) {
  const roomName = state.current;
  if (!roomName || !text) return;
  stopTyping();
  const msg = { localId: ++state.localId, from: state.nick, text, at: Date.now(), mine: true, state: 'sending' };
  addMessage(roomName, msg);
  state.socket.timeout(ACK_TIMEOUT_MS).emit('message', { room: roomName, text }, (err, res) => {
    msg.state = !err && res.ok ? 'delivered' : 'failed';
    msg.error = err ? 'not delivered (no answer)' : res.error;
    const el = document.querySelector(`[data-local-id="${msg.localId}"] .state`);
    if (el) paintState(el, msg);
  });
}

// ----- typing ------------------------------------------------------------------------------

function typed() {
  if (!state.current) return;
  if (!state.typingSent) {
    state.typingSent = true;
    state.socket.emit('typing', { room: state.current, typing: true });
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent && state.current) {
    state.socket.emit('typing', { room: state.current, typing: false });
  }
  state.typingSent = false;
}

// ----- rendering ---------------------------------------------------------------------------

function render() {
  const room = state.current && state.rooms.get(state.current);
  if (room) room.unread = 0;
  renderRooms();
  $('room-title').textContent = room ? `#${state.current}` : 'No room';
  $('members').textContent = room ? membersText(room.members) : '';
  $('leave').disabled = !room;
  $('text').disabled = !room;
  $('send').disabled = !room;
  $('text').placeholder = room ? `Message #${state.current}` : 'Join a room first';
  $('empty').hidden = Boolean(room);
  const list = $('messages');
  list.replaceChildren(...(room ? room.messages.map(messageElement) : []));
  renderTyping();
  scrollDown();
}

function membersText(members) {
  if (!members.length) return '';
  const n = members.length;
  return `${n} ${n === 1 ? 'member' : 'members'}: ${members.join(', ')}`;
}

function renderRooms() {
  const list = $('rooms');
  list.replaceChildren(...[...state.rooms.entries()].map(([name, room]) => {
    const li = document.createElement('li');
    li.className = name === state.current ? 'room active' : 'room';
    li.dataset.room = name;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'room-name';
    button.textContent = `#${name}`;
    button.addEventListener('click', () => select(name));
    li.append(button);
    if (room.unread > 0 && name !== state.current) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = String(room.unread);
      li.append(badge);
    }
    return li;
  }));
  if (state.current && state.rooms.get(state.current)) {
    $('members').textContent = membersText(state.rooms.get(state.current).members);
  }
}

function renderSuggested(rooms) {
  $('suggested').replaceChildren(...rooms.map((name) => {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'chip';
    chip.textContent = `#${name}`;
    chip.addEventListener('click', () => join(name));
    return chip;
  }));
}

function renderTyping() {
  const room = state.current && state.rooms.get(state.current);
  const nicks = room ? [...room.typing.keys()] : [];
  let text = '';
  if (nicks.length === 1) text = `${nicks[0]} is typing…`;
  else if (nicks.length === 2) text = `${nicks[0]} and ${nicks[1]} are typing…`;
  else if (nicks.length > 2) text = 'Several people are typing…';
  $('typing').textContent = text;
}

function messageElement(msg) {
  const li = document.createElement('li');
  if (msg.system) {
    li.className = 'system';
    li.textContent = msg.text;
    return li;
  }
  li.className = msg.mine ? 'msg mine' : 'msg';
  if (msg.localId) li.dataset.localId = String(msg.localId);

  const avatar = document.createElement('span');
  avatar.className = 'avatar';
  avatar.textContent = msg.from.slice(0, 1).toUpperCase();
  avatar.style.background = colorOf(msg.from);

  const body = document.createElement('div');
  body.className = 'body';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = msg.from;
  const time = document.createElement('time');
  time.textContent = new Date(msg.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  meta.append(from, time);
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = msg.text;
  body.append(meta, text);
  if (msg.mine) {
    const st = document.createElement('span');
    st.className = 'state';
    paintState(st, msg);
    body.append(st);
  }
  li.append(avatar, body);
  return li;
}

function paintState(el, msg) {
  el.dataset.state = msg.state;
  el.textContent = { sending: 'sending…', delivered: '✓ delivered', failed: `✗ ${msg.error}` }[msg.state];
}

function colorOf(nick) {
  let h = 0;
  for (const c of nick) h = (h * 31 + c.codePointAt(0)) % 360;
  return `hsl(${h}, 55%, 45%)`;
}

function scrollDown() {
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
}

// ----- wiring ------------------------------------------------------------------------------

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const nick = $('nick').value.trim();
  if (!nick) {
    $('login-error').textContent = 'Pick a nickname first.';
    return;
  }
  $('login-error').textContent = '';
  start(nick);
});

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('room-input').value.trim();
  if (name) join(name);
  $('room-input').value = '';
});

$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  $('text').value = '';
  send(text);
});

$('text').addEventListener('input', typed);
$('leave').addEventListener('click', () => state.current && leave(state.current));

if (state.nick) start(state.nick);
