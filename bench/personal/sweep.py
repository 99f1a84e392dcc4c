#!/usr/bin/env python3
"""Runs `reef personalize` over habitats x draws for one plan (host target
unless --target says otherwise) and prints the table docs/personalization.md
keeps: site before/after per habitat, the smallest gain, the test split drop,
per-class recall after, and how many updates the guard kept.

  bench/personal/sweep.py --reef build/reef --model src.tflite --plan p.plan \
      --sites 7398,7623,9892 --site-pattern site-{}.ds --source src-train.ds \
      --test src-test.ds [--draws 1,2,3] [--hold-back 15 --guard-margin 1]
      [--refit-epochs E] [--pseudo P [--pseudo-conf C]]
      [--set key=value ...]   (plan lines replaced, e.g. --set balance=1)
"""
import argparse, json, os, subprocess, sys, tempfile


def plan_with(plan, sets, tmpdir):
    if not sets:
        return plan
    lines = open(plan).read().splitlines()
    keys = {s.split('=', 1)[0]: s.split('=', 1)[1] for s in sets}
    out = [l for l in lines if l.split(' ', 1)[0] not in keys]
    out += ['%s %s' % kv for kv in keys.items()]
    path = os.path.join(tmpdir, 'p.plan')
    open(path, 'w').write('\n'.join(out) + '\n')
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reef', required=True)
    ap.add_argument('--model', required=True)
    ap.add_argument('--plan', required=True)
    ap.add_argument('--sites', required=True)
    ap.add_argument('--site-pattern', default='site-{}.ds')
    ap.add_argument('--source', required=True)
    ap.add_argument('--test')
    ap.add_argument('--draws', default='1,2,3')
    ap.add_argument('--hold-back', default='15')
    ap.add_argument('--guard-margin', default='1')
    ap.add_argument('--refit-epochs', default=None)
    ap.add_argument('--target', default='host')
    ap.add_argument('--set', action='append', default=[])
    ap.add_argument('--json', action='store_true')
    ap.add_argument('--labelled-balance', action='store_true')
    ap.add_argument('--pseudo', help='session 15: PSEUDO frames of the adaptation pool (0: the split alone)')
    ap.add_argument('--pseudo-conf', help='session 15: top probability * 256 a PSEUDO frame is kept at')
    ap.add_argument('--pseudo-after', help='session 15: the PSEUDO frames after this many epochs, before the guard')
    ap.add_argument('--stream', help='gray frames of every frame (session 13): the device forms the temporal input')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plan = plan_with(a.plan, a.set, tmp)
        rows = []
        for site in a.sites.split(','):
            for draw in a.draws.split(','):
                cmd = [a.reef, 'personalize', '--model', a.model, '--plan', plan,
                       '--site', a.site_pattern.format(site), '--labelled', '50',
                       '--source', a.source, '--target', a.target, '--draw-seed', draw,
                       '--hold-back', a.hold_back, '--guard-margin', a.guard_margin, '--json']
                if a.test:
                    cmd += ['--test', a.test]
                if a.labelled_balance:
                    cmd += ['--labelled-balance']
                if a.stream:
                    cmd += ['--stream', a.stream]
                if a.pseudo is not None:
                    cmd += ['--pseudo', a.pseudo]
                if a.pseudo_after is not None:
                    cmd += ['--pseudo-after', a.pseudo_after]
                if a.pseudo_conf is not None:
                    cmd += ['--pseudo-conf', a.pseudo_conf]
                if a.refit_epochs is not None:
                    cmd += ['--refit-epochs', a.refit_epochs]
                r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                s, t = r['site_accuracy_pct'], r.get('test_accuracy_pct', {})
                rows.append(dict(site=site, draw=int(draw), before=s['int8_deployed'], after=s['after'],
                                 recall_before=s.get('recall_int8_deployed'), recall_after=s.get('recall_after'),
                                 test_drop=(t['int8_deployed'] - t['after']) if t else None,
                                 kept=r.get('guard_kept_update', True), report=r,
                                 same=r.get('stream_same_as_prep', True)))
    if a.json:
        json.dump([{k: v for k, v in x.items() if k != 'report'} for x in rows], sys.stdout, indent=1)
        return
    print('habitat draw  before  after  gain  test drop  recall after (per class)  kept')
    for x in rows:
        rec = '/'.join('%.0f' % v for v in (x['recall_after'] or []))
        print('%-7s %4d %7.2f %6.2f %5.2f %10s  %-24s %s' % (
            x['site'], x['draw'], x['before'], x['after'], x['after'] - x['before'],
            '%.2f' % x['test_drop'] if x['test_drop'] is not None else '-', rec, 'yes' if x['kept'] else 'R'))
    n = len(rows)
    drops = [x['test_drop'] for x in rows if x['test_drop'] is not None]
    print('mean before %.2f after %.2f; smallest gain %.2f; test drop mean %s worst %s; kept %d/%d' % (
        sum(x['before'] for x in rows) / n, sum(x['after'] for x in rows) / n,
        min(x['after'] - x['before'] for x in rows),
        '%.2f' % (sum(drops) / len(drops)) if drops else '-', '%.2f' % max(drops) if drops else '-',
        sum(1 for x in rows if x['kept']), n))
    if a.stream:
        print('--stream: the update from the camera frames equals the prepped one on %d of %d runs' % (
            sum(1 for x in rows if x['same']), n))


if __name__ == '__main__':
    main()
