// The page: submits a job to /api/jobs (a GenerationJob in the proto3 JSON mapping), follows it, lists the recent
// jobs. Plain browser JavaScript, no build step.
'use strict';
const $ = (id) => document.getElementById(id);
const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];
$('token').value = localStorage.getItem('diffusion-token') || '';
$('token').addEventListener('input', () => {
  localStorage.setItem('diffusion-token', $('token').value.trim());
  loadSamplers();
  refreshJobs();
});

async function api(path, body) {
  const headers = { 'Content-Type': 'application/json' };
  const token = $('token').value.trim();
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(path, body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error || data.detail || r.statusText) + (data.field ? ' (field ' + data.field + ')' : ''));
  return data;
}

async function loadSamplers() {
  try {
    const samplers = await api('/sdapi/v1/samplers');
    $('sampler').innerHTML = '';
    for (const s of samplers) $('sampler').add(new Option(s.name, s.name));
  } catch (e) { /* a token may be needed first: Euler stays */ }
}

let following = null;

$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  localStorage.setItem('diffusion-token', $('token').value.trim());
  $('error').textContent = '';
  const job = {
    prompt: $('prompt').value, negativePrompt: $('negative').value, steps: Number($('steps').value),
    sampler: $('sampler').value, scheduler: $('scheduler').value, seed: String($('seed').value || -1),
  };
  if ($('width').value) job.width = Number($('width').value);
  if ($('height').value) job.height = Number($('height').value);
  try {
    const { job_id: id } = await api('/api/jobs', job);
    $('result').classList.add('hidden');
    $('live').classList.remove('hidden');
    $('preview').removeAttribute('src');
    $('progress').value = 0;
    following = id;
    follow(id);
    refreshJobs();
  } catch (e) {
    $('error').textContent = e.message;
  }
});

async function follow(id) {
  while (following === id) {
    let job;
    try {
      job = await api('/api/jobs/' + encodeURIComponent(id));
    } catch (e) {
      $('error').textContent = e.message;
      return;
    }
    $('progress').value = job.progress;
    $('status').textContent = `${job.state} — step ${job.step} of ${job.total_steps}` +
      (job.image_count > 1 ? `, image ${job.image_index + 1} of ${job.image_count}` : '') + ` — seed ${job.seed}`;
    if (job.preview) $('preview').src = 'data:image/png;base64,' + job.preview;
    if (FINAL.includes(job.state)) {
      if (job.state === 'COMPLETED' && job.images.length > 0) {
        $('image').src = 'data:image/png;base64,' + job.images[0].png;
        $('parameters').textContent = job.images[0].parameters;
        $('result').classList.remove('hidden');
      } else if (job.state === 'FAILED') {
        $('error').textContent = 'failed: ' + job.reason;
      }
      refreshJobs();
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function refreshJobs() {
  let jobs;
  try {
    jobs = await api('/api/jobs');
  } catch (e) {
    return;
  }
  const rows = jobs.map((j) => {
    const tr = document.createElement('tr');
    tr.dataset.jobId = j.job_id;
    const prompt = document.createElement('td');
    prompt.textContent = j.prompt;
    const state = document.createElement('td');
    state.className = 'state';
    state.textContent = j.state;
    const progress = document.createElement('td');
    progress.textContent = Math.round(j.progress * 100) + ' %';
    const action = document.createElement('td');
    if (!FINAL.includes(j.state)) {
      const b = document.createElement('button');
      b.textContent = 'Cancel';
      b.className = 'cancel';
      b.onclick = async () => {
        b.disabled = true;
        try { await api('/api/jobs/' + encodeURIComponent(j.job_id) + '/cancel', {}); } catch (e) { $('error').textContent = e.message; }
        refreshJobs();
      };
      action.append(b);
    }
    tr.append(prompt, state, progress, action);
    return tr;
  });
  $('jobs').replaceChildren(...rows);
}

loadSamplers();
refreshJobs();
setInterval(refreshJobs, 1000);
