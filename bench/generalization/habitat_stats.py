# bench/generalization/habitat_stats.py: per habitat and class, what the
# inputs look like (docs/generalization.md, session 13: why 7490 and 7434
# fail). Python 3 standard library only.
#   python3 habitat_stats.py FRAMES.ds SLOW.ds
# FRAMES.ds: reef prep --split frames (gray, any size); SLOW.ds: reef prep
# --split frames --size 64x64 --background running-diff-slow (the same
# frames in the same order, 2 channels). Prints per habitat and class: the
# frame count, mean luma and spatial sd, mean |d| and |s| (v - 128, in the
# channels' units: 2 x the gray difference), and the share of pixels with
# |d| > 8, |d| > 24 and |s| > 24.
import struct, sys, collections
def load(p):
    b = open(p,'rb').read()
    n,h,w,c,k,g = struct.unpack_from('<6I', b, 16)
    po,lo,go,so,ss = struct.unpack_from('<5Q', b, 56)
    labels = struct.unpack_from('<%dH'%n, b, lo); groups = struct.unpack_from('<%dH'%n, b, go)
    strs = b[so:so+ss].split(b'\0')[:-1]
    cls=[s.decode() for s in strs[:k]]; grp=[s.decode() for s in strs[k:k+g]]; ids=[s.decode() for s in strs[k+g:]]
    return b,n,h,w,c,cls,grp,labels,groups,ids,po
def main():
    gray = load(sys.argv[1]); tmp = load(sys.argv[2])
    # luma stats from gray 32x32
    b,n,h,w,c,cls,grp,labels,groups,ids,po = gray
    sz=h*w*c
    st = collections.defaultdict(lambda: [0,0.0,0.0])
    for i in range(n):
        px=b[po+i*sz:po+(i+1)*sz]; m=sum(px)/sz
        sd=(sum(v*v for v in px)/sz-m*m)**.5
        key=(grp[groups[i]],cls[labels[i]]); s=st[key]; s[0]+=1; s[1]+=m; s[2]+=sd
    b,n,h,w,c,cls2,grp2,labels2,groups2,ids2,po2 = tmp
    sz=h*w*c
    tabs={T:bytes(1 if abs(v-128)>T else 0 for v in range(256)) for T in (8,24)}
    absd=bytes(min(255,abs(v-128)) for v in range(256))
    st2 = collections.defaultdict(lambda: [0,0.0,0.0,0.0,0.0,0.0])
    for i in range(n):
        px=b[po2+i*sz:po2+(i+1)*sz]
        d=px[0::2]; s_=px[1::2]
        key=(grp2[groups2[i]],cls2[labels2[i]]); s=st2[key]
        s[0]+=1; s[1]+=sum(d.translate(absd))/len(d); s[2]+=sum(s_.translate(absd))/len(s_)
        s[3]+=d.translate(tabs[8]).count(1)/len(d); s[4]+=d.translate(tabs[24]).count(1)/len(d); s[5]+=s_.translate(tabs[24]).count(1)/len(s_)
    print("habitat class n | luma mean sd | mean|d| mean|s| | frac|d|>8 frac|d|>24 frac|s|>24")
    for key in sorted(st):
        a=st[key]; q=st2[key]
        print("%s %-6s %4d | %5.1f %5.1f | %5.2f %5.2f | %.3f %.4f %.4f"%(key[0],key[1][:6],a[0],a[1]/a[0],a[2]/a[0],q[1]/q[0],q[2]/q[0],q[3]/q[0],q[4]/q[0],q[5]/q[0]))
main()
