using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace CurvNative.Tensors;

/// <summary>
/// Raw (non-differentiable) kernels on tensors: every primitive of the autodiff engine computes
/// its values here. Elementwise work goes through TensorPrimitives, matrix products through BLAS.
/// Callers (the autodiff primitives) have validated shapes; these trust their inputs.
/// </summary>
public static class TensorOps
{
    // ---------------------------------------------------------------- elementwise binary

    /// <summary>Binary elementwise operations with NumPy broadcasting.</summary>
    public enum BinaryKind { Add, Subtract, Multiply, Divide }

    public static Tensor<T> Binary<T>(Tensor<T> a, Tensor<T> b, BinaryKind kind) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Shape.SequenceEqual(b.Shape))
        {
            var r = Tensor<T>.Uninitialized(a.ShapeArray);
            Apply(a.Span, b.Span, r.Span, kind);
            return r;
        }
        var shape = Shape.Broadcast(a.Shape, b.Shape);
        var result = Tensor<T>.Uninitialized(shape);
        if (b.Length == 1 && a.Length == result.Length) { ApplyScalarRight(a.Span, b.Span[0], result.Span, kind); return result; }
        if (a.Length == 1 && b.Length == result.Length) { ApplyScalarLeft(a.Span[0], b.Span, result.Span, kind); return result; }
        if (a.Length == result.Length && IsSuffix(b.Shape, shape))
        {
            // Row-wise fast path: b broadcasts along the leading axes (a bias).
            int inner = b.Length;
            for (int o = 0; o < result.Length; o += inner)
                Apply(a.Span.Slice(o, inner), b.Span, result.Span.Slice(o, inner), kind);
            return result;
        }
        // One side varies along a contiguous block of axes only (a conv bias [1, C, 1, 1] against
        // [N, C, H, W]): one scalar op per run, instead of materialising the broadcast through an index map.
        if (a.Length == result.Length && TryMiddleBlock(b.Shape, shape, out int outer, out int mid, out int post))
        {
            for (int o = 0, off = 0; o < outer; o++)
                for (int m = 0; m < mid; m++, off += post)
                    ApplyScalarRight(a.Span.Slice(off, post), b.Span[m], result.Span.Slice(off, post), kind);
            return result;
        }
        if (b.Length == result.Length && TryMiddleBlock(a.Shape, shape, out outer, out mid, out post))
        {
            for (int o = 0, off = 0; o < outer; o++)
                for (int m = 0; m < mid; m++, off += post)
                    ApplyScalarLeft(a.Span[m], b.Span.Slice(off, post), result.Span.Slice(off, post), kind);
            return result;
        }
        var ea = a.Length == result.Length ? a : BroadcastTo(a, shape);
        var eb = b.Length == result.Length ? b : BroadcastTo(b, shape);
        Apply(ea.Span, eb.Span, result.Span, kind);
        return result;
    }

    private static bool IsSuffix(ReadOnlySpan<int> small, ReadOnlySpan<int> big)
    {
        // True when small equals big's trailing dims after dropping small's leading 1s.
        int lead = 0;
        while (lead < small.Length && small[lead] == 1) lead++;
        var s = small[lead..];
        return s.Length <= big.Length && big[(big.Length - s.Length)..].SequenceEqual(s);
    }

    private static void Apply<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> r, BinaryKind kind) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case BinaryKind.Add: TP.Add(a, b, r); break;
            case BinaryKind.Subtract: TP.Subtract(a, b, r); break;
            case BinaryKind.Multiply: TP.Multiply(a, b, r); break;
            default: TP.Divide(a, b, r); break;
        }
    }

    private static void ApplyScalarRight<T>(ReadOnlySpan<T> a, T b, Span<T> r, BinaryKind kind) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case BinaryKind.Add: TP.Add(a, b, r); break;
            case BinaryKind.Subtract: TP.Subtract(a, b, r); break;
            case BinaryKind.Multiply: TP.Multiply(a, b, r); break;
            default: TP.Divide(a, b, r); break;
        }
    }

    private static void ApplyScalarLeft<T>(T a, ReadOnlySpan<T> b, Span<T> r, BinaryKind kind) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case BinaryKind.Add: TP.Add(b, a, r); break;
            case BinaryKind.Subtract: TP.Subtract(a, b, r); break;
            case BinaryKind.Multiply: TP.Multiply(b, a, r); break;
            default: TP.Divide(a, b, r); break;
        }
    }

    /// <summary>y = a * x + b elementwise with scalars a, b.</summary>
    public static Tensor<T> Affine<T>(Tensor<T> x, T a, T b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor<T>.Uninitialized(x.ShapeArray);
        if (b == T.Zero) TP.Multiply(x.Span, a, r.Span);
        else { TP.Multiply(x.Span, a, r.Span); TP.Add(r.Span, b, r.Span); }
        return r;
    }

    // ---------------------------------------------------------------- elementwise unary

    /// <summary>Unary elementwise functions used by the autodiff primitives.</summary>
    public enum UnaryKind { Exp, Log, Tanh, Sigmoid, Softplus, Relu, Erf, Sqrt, Step, Abs, Sign, Sin, Cos }

    public static Tensor<T> Unary<T>(Tensor<T> x, UnaryKind kind) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor<T>.Uninitialized(x.ShapeArray);
        var s = x.Span; var d = r.Span;
        if (s.IsEmpty) return r; // TensorPrimitives.Sigmoid rejects empty spans
        switch (kind)
        {
            case UnaryKind.Exp: TP.Exp(s, d); break;
            case UnaryKind.Log: TP.Log(s, d); break;
            case UnaryKind.Tanh:
                if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
                    FastMath.Tanh(MemoryMarshal.Cast<T, float>(s), MemoryMarshal.Cast<T, float>(d));
                else TP.Tanh(s, d);
                break;
            case UnaryKind.Sigmoid: TP.Sigmoid(s, d); break;
            case UnaryKind.Abs: TP.Abs(s, d); break;
            case UnaryKind.Relu: Relu(s, d); break;
            case UnaryKind.Softplus:
                // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|.
                for (int i = 0; i < s.Length; i++)
                {
                    T v = s[i];
                    d[i] = T.Max(v, T.Zero) + T.LogP1(T.Exp(-T.Abs(v)));
                    if (T.IsNaN(v)) d[i] = v;
                }
                break;
            case UnaryKind.Erf: for (int i = 0; i < s.Length; i++) d[i] = T.CreateTruncating(SpecialFunctions.Erf(double.CreateTruncating(s[i]))); break;
            case UnaryKind.Sqrt: TP.Sqrt(s, d); break;
            case UnaryKind.Sin: TP.Sin(s, d); break;
            case UnaryKind.Cos: TP.Cos(s, d); break;
            case UnaryKind.Step: Step(s, d); break;
            case UnaryKind.Sign: for (int i = 0; i < s.Length; i++) d[i] = s[i] > T.Zero ? T.One : s[i] < T.Zero ? -T.One : T.Zero; break;
        }
        return r;
    }

    // ReLU and its derivative are selects; one vectorised pass each (the CNN benchmark spends its
    // elementwise time here). Vector<T> covers float and double; the tail runs scalar.

    /// <summary>d = x &gt; 0 || x is NaN ? x : 0 (PyTorch's relu(NaN) = NaN).</summary>
    private static void Relu<T>(ReadOnlySpan<T> s, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= s.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var v = new Vector<T>(s[i..]);
                var keep = Vector.GreaterThan(v, Vector<T>.Zero) | ~Vector.Equals(v, v); // NaN != NaN
                Vector.ConditionalSelect(keep, v, Vector<T>.Zero).CopyTo(d[i..]);
            }
        for (; i < s.Length; i++) d[i] = s[i] > T.Zero || T.IsNaN(s[i]) ? s[i] : T.Zero;
    }

    /// <summary>d = x &gt; 0 ? 1 : 0 (NaN gives 0).</summary>
    private static void Step<T>(ReadOnlySpan<T> s, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= s.Length - Vector<T>.Count; i += Vector<T>.Count)
                Vector.ConditionalSelect(Vector.GreaterThan(new Vector<T>(s[i..]), Vector<T>.Zero), Vector<T>.One, Vector<T>.Zero).CopyTo(d[i..]);
        for (; i < s.Length; i++) d[i] = s[i] > T.Zero ? T.One : T.Zero;
    }

    /// <summary>x &gt; 0 ? g : 0: the ReLU derivative applied to an upstream gradient, fused
    /// (PyTorch's threshold_backward: zero where x &lt;= 0 even if g is not finite). g may also be a stack
    /// [K, ...shape of x] of K gradients; the result has g's shape.</summary>
    public static Tensor<T> ReluBackward<T>(Tensor<T> g, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => TimesDerivative(g, x, new ReluMask<T>());

    /// <summary>g * (1 - y^2): the tanh derivative applied to an upstream gradient, fused into one pass.
    /// g may also be a stack [K, ...shape of y] of K gradients; the result has g's shape.</summary>
    public static Tensor<T> TanhBackward<T>(Tensor<T> g, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => TimesDerivative(g, y, new TanhDerivative<T>());

    /// <summary>
    /// The tangent of tanh's backward g (1 - y^2) along a tangent tg of g and ty of y: tg (1 - y^2) + ty (-2 g y), in one
    /// pass instead of five (a Hessian-vector product runs it for every tanh layer). tg and ty are stacks
    /// [K, ...shape of y] (either may be null, not both); g and y have y's shape. Rounds as the unfused expression.
    /// </summary>
    public static Tensor<T> TanhBackwardTangent<T>(Tensor<T>? tg, Tensor<T>? ty, Tensor<T> g, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var like = tg ?? ty ?? throw new ArgumentException("TanhBackwardTangent needs a tangent of g or of y.");
        var r = Tensor<T>.Uninitialized(like.ShapeArray);
        int len = y.Length;
        for (int o = 0; o < r.Length; o += len)
            TanhTangentItem(tg is null ? default : tg.Span.Slice(o, len), ty is null ? default : ty.Span.Slice(o, len), g.Span, y.Span, r.Span.Slice(o, len));
        return r;
    }

    /// <summary>One item of <see cref="TanhBackwardTangent"/>; an empty tangent span stands for a zero tangent.</summary>
    private static void TanhTangentItem<T>(ReadOnlySpan<T> tg, ReadOnlySpan<T> ty, ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool hasG = !tg.IsEmpty, hasY = !ty.IsEmpty;
        ref T tgr = ref MemoryMarshal.GetReference(tg), tyr = ref MemoryMarshal.GetReference(ty);
        ref T gr = ref MemoryMarshal.GetReference(g), yr = ref MemoryMarshal.GetReference(y), dr = ref MemoryMarshal.GetReference(d);
        T minusTwo = -T.CreateTruncating(2);
        nuint n = (nuint)d.Length, i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var m2 = new Vector<T>(minusTwo);
            for (; i + (nuint)Vector<T>.Count <= n; i += (nuint)Vector<T>.Count)
            {
                var yv = Vector.LoadUnsafe(ref yr, i);
                var a = hasG ? Vector.LoadUnsafe(ref tgr, i) * (Vector<T>.One - yv * yv) : Vector<T>.Zero;
                var b = hasY ? Vector.LoadUnsafe(ref tyr, i) * (Vector.LoadUnsafe(ref gr, i) * yv * m2) : Vector<T>.Zero;
                (hasG && hasY ? a + b : hasG ? a : b).StoreUnsafe(ref dr, i);
            }
        }
        for (; i < n; i++)
        {
            T yv = Unsafe.Add(ref yr, i);
            T a = hasG ? Unsafe.Add(ref tgr, i) * (T.One - yv * yv) : T.Zero;
            T b = hasY ? Unsafe.Add(ref tyr, i) * (Unsafe.Add(ref gr, i) * yv * minusTwo) : T.Zero;
            Unsafe.Add(ref dr, i) = hasG && hasY ? a + b : hasG ? a : b;
        }
    }

    /// <summary><see cref="ReluBackward"/> written over g (for a g nobody else reads).</summary>
    internal static void ReluBackwardInPlace<T>(Tensor<T> g, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => TimesDerivative(g, x, new ReluMask<T>(), g);

    /// <summary><see cref="TanhBackward"/> written over g (for a g nobody else reads).</summary>
    internal static void TanhBackwardInPlace<T>(Tensor<T> g, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => TimesDerivative(g, y, new TanhDerivative<T>(), g);

    /// <summary>rule(g, v) elementwise, for g of v's shape or a stack [K, ...v's shape], one item at a time, into r
    /// (g's shape; new when not given; may be g itself: each element is read before it is written).</summary>
    private static Tensor<T> TimesDerivative<T, TRule>(Tensor<T> g, Tensor<T> v, TRule rule, Tensor<T>? r = null)
        where T : unmanaged, IFloatingPointIeee754<T> where TRule : struct, IGradientRule<T>
    {
        r ??= Tensor<T>.Uninitialized(g.ShapeArray);
        ReadOnlySpan<T> vs = v.Span;
        for (int o = 0; o < g.Length; o += vs.Length)
            ApplyPerElement(g.Span.Slice(o, vs.Length), vs, r.Span.Slice(o, vs.Length), rule);
        return r;
    }

    /// <summary>An upstream gradient times an elementwise derivative computed from a forward value, in scalar
    /// and vector form (a struct, so the loop below is specialised and inlined per rule).</summary>
    private interface IGradientRule<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        T Apply(T g, T v);
        Vector<T> Apply(Vector<T> g, Vector<T> v);
    }

    /// <summary>g where x &gt; 0, else exactly 0 (also for an infinite or NaN g).</summary>
    private readonly struct ReluMask<T> : IGradientRule<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Apply(T g, T x) => x > T.Zero ? g : T.Zero;
        public Vector<T> Apply(Vector<T> g, Vector<T> x) => Vector.ConditionalSelect(Vector.GreaterThan(x, Vector<T>.Zero), g, Vector<T>.Zero);
    }

    /// <summary>g (1 - y^2) for y = tanh(x).</summary>
    private readonly struct TanhDerivative<T> : IGradientRule<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T Apply(T g, T y) => g * (T.One - y * y);
        public Vector<T> Apply(Vector<T> g, Vector<T> y) => g * (Vector<T>.One - y * y);
    }

    // Unchecked vector loads: the spans are equally long (the callers slice them so), and slicing a span per
    // vector made these passes ~1 ns per element, several times their memory cost.
    private static void ApplyPerElement<T, TRule>(ReadOnlySpan<T> g, ReadOnlySpan<T> v, Span<T> d, TRule rule)
        where T : unmanaged, IFloatingPointIeee754<T> where TRule : struct, IGradientRule<T>
    {
        ref T gr = ref MemoryMarshal.GetReference(g), vr = ref MemoryMarshal.GetReference(v), dr = ref MemoryMarshal.GetReference(d);
        nuint n = (nuint)d.Length, i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i + (nuint)Vector<T>.Count <= n; i += (nuint)Vector<T>.Count)
                rule.Apply(Vector.LoadUnsafe(ref gr, i), Vector.LoadUnsafe(ref vr, i)).StoreUnsafe(ref dr, i);
        for (; i < n; i++) Unsafe.Add(ref dr, i) = rule.Apply(Unsafe.Add(ref gr, i), Unsafe.Add(ref vr, i));
    }

    // ---------------------------------------------------------------- broadcast and reduce

    /// <summary>Expands x to a broadcast-compatible larger shape (copying).</summary>
    public static Tensor<T> BroadcastTo<T>(Tensor<T> x, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Uninitialized(shape.ToArray());
        if (result.Length == 0) return result;
        if (x.Length == 1) { result.Span.Fill(x.Span[0]); return result; }
        if (IsSuffix(x.Shape, shape))
        {
            int inner = x.Length;
            for (int o = 0; o < result.Length; o += inner) x.Span.CopyTo(result.Span.Slice(o, inner));
            return result;
        }
        if (TryMiddleBlock(x.Shape, shape, out int outer, out int mid, out int post))
        {
            // e.g. a conv bias [1, C, 1, 1] to [N, C, H, W]: fill runs instead of gathering through an index map.
            for (int o = 0, off = 0; o < outer; o++)
                for (int m = 0; m < mid; m++, off += post) result.Span.Slice(off, post).Fill(x.Span[m]);
            return result;
        }
        var map = BroadcastStrides(x.Shape, shape);
        var src = x.Span; var dst = result.Span;
        var mapped = MappedIndices(shape, map);
        for (int i = 0; i < dst.Length; i++) dst[i] = src[mapped[i]];
        return result;
    }

    /// <summary>Sums x down to a shape it broadcasts from (the adjoint of <see cref="BroadcastTo{T}"/>).</summary>
    public static Tensor<T> SumTo<T>(Tensor<T> x, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Zeros(shape.ToArray());
        if (x.Length == 0) return result;
        if (result.Length == 1) { result.Span[0] = TP.Sum<T>(x.Span); return result; }
        if (IsSuffix(shape, x.Shape))
        {
            int inner = result.Length;
            var d = result.Span;
            for (int o = 0; o < x.Length; o += inner) TP.Add(d, x.Span.Slice(o, inner), d);
            return result;
        }
        if (TryMiddleBlock(shape, x.Shape, out int outer, out int mid, out int post))
        {
            // Kept axes form one contiguous block (e.g. a conv bias [1, C, 1, 1] of [N, C, H, W]).
            var s = x.Span; var d = result.Span;
            for (int o = 0; o < outer; o++)
                for (int m = 0; m < mid; m++)
                    d[m] += TP.Sum<T>(s.Slice((o * mid + m) * post, post));
            return result;
        }
        var map = BroadcastStrides(shape, x.Shape);
        var src = x.Span; var dst = result.Span;
        var mapped = MappedIndices(x.Shape, map);
        for (int i = 0; i < src.Length; i++) dst[mapped[i]] += src[i];
        return result;
    }

    private static bool TryMiddleBlock(ReadOnlySpan<int> small, ReadOnlySpan<int> big, out int outer, out int mid, out int post)
    {
        outer = mid = post = 1;
        int off = big.Length - small.Length;
        int first = -1, last = -1;
        for (int i = 0; i < big.Length; i++)
        {
            int s = i < off ? 1 : small[i - off];
            if (s == big[i] && s != 1) { if (first < 0) first = i; last = i; }
            else if (s != 1) return false;
        }
        if (first < 0) return false;
        for (int i = first; i <= last; i++)
        {
            int s = i < off ? 1 : small[i - off];
            if (s != big[i]) return false;
        }
        for (int i = 0; i < first; i++) outer *= big[i];
        for (int i = first; i <= last; i++) mid *= big[i];
        for (int i = last + 1; i < big.Length; i++) post *= big[i];
        return true;
    }

    private static int[] BroadcastStrides(ReadOnlySpan<int> small, ReadOnlySpan<int> big)
    {
        var strides = Shape.Strides(small);
        var map = new int[big.Length];
        int off = big.Length - small.Length;
        for (int i = 0; i < big.Length; i++)
            map[i] = i < off || small[i - off] == 1 ? 0 : strides[i - off];
        return map;
    }

    /// <summary>For each row-major position of shape, the flat offset under other strides.</summary>
    private static int[] MappedIndices(ReadOnlySpan<int> shape, int[] mappedStrides)
    {
        int rank = shape.Length, n = Shape.Size(shape);
        var result = new int[n];
        var idx = new int[rank];
        int mapped = 0;
        for (int flat = 0; flat < n; flat++)
        {
            result[flat] = mapped;
            for (int ax = rank - 1; ax >= 0; ax--)
            {
                idx[ax]++; mapped += mappedStrides[ax];
                if (idx[ax] < shape[ax]) break;
                mapped -= mappedStrides[ax] * idx[ax];
                idx[ax] = 0;
            }
        }
        return result;
    }

    // ---------------------------------------------------------------- layout

    /// <summary>Permutes axes (copying): result axis i is input axis perm[i].</summary>
    public static Tensor<T> Permute<T>(Tensor<T> x, ReadOnlySpan<int> perm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rank = x.Rank;
        var shape = new int[rank];
        var srcStrides = Shape.Strides(x.Shape);
        var mapped = new int[rank];
        for (int i = 0; i < rank; i++) { shape[i] = x.Shape[perm[i]]; mapped[i] = srcStrides[perm[i]]; }
        var result = Tensor<T>.Uninitialized(shape);
        if (rank == 2 && perm[0] == 1)
        {
            if (x.Shape[0] == 1 || x.Shape[1] == 1) { x.Span.CopyTo(result.Span); return result; } // a vector: same order
            Transpose(x.Span, result.Span, x.Shape[0], x.Shape[1]);
            return result;
        }
        if (rank == 3 && perm[0] == 0 && perm[1] == 2)
        {
            // Batched matrix transpose (im2col patches and conv gradients to rows): one blocked transpose per batch.
            int b = x.Shape[0], r = x.Shape[1], c = x.Shape[2];
            for (int i = 0; i < b; i++) Transpose(x.Span.Slice(i * r * c, r * c), result.Span.Slice(i * r * c, r * c), r, c);
            return result;
        }
        var src = x.Span; var dst = result.Span;
        var srcIndex = MappedIndices(shape, mapped);
        for (int i = 0; i < dst.Length; i++) dst[i] = src[srcIndex[i]];
        return result;
    }

    /// <summary>d [c, r] = s [r, c] transposed, in 32 x 32 tiles so both sides stay in cache.</summary>
    private static void Transpose<T>(ReadOnlySpan<T> s, Span<T> d, int r, int c)
    {
        const int tile = 32;
        for (int i0 = 0; i0 < r; i0 += tile)
            for (int j0 = 0; j0 < c; j0 += tile)
            {
                int i1 = Math.Min(r, i0 + tile), j1 = Math.Min(c, j0 + tile);
                for (int i = i0; i < i1; i++)
                    for (int j = j0; j < j1; j++) d[j * r + i] = s[i * c + j];
            }
    }

    // ---------------------------------------------------------------- matrix products

    /// <summary>
    /// op(A) op(B) for rank-2 operands, or batched over a shared leading axis for rank 3.
    /// </summary>
    public static Tensor<T> MatMul<T>(Tensor<T> a, Tensor<T> b, bool transA, bool transB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = a.Rank == 3 ? a.Shape[0] : 1;
        int ar = a.Shape[a.Rank - 2], ac = a.Shape[a.Rank - 1];
        int br = b.Shape[b.Rank - 2], bc = b.Shape[b.Rank - 1];
        int m = transA ? ac : ar, k = transA ? ar : ac, n = transB ? br : bc;
        var result = a.Rank == 3 ? Tensor<T>.Uninitialized(batch, m, n) : Tensor<T>.Uninitialized(m, n);
        for (int i = 0; i < batch; i++)
            Kernels.DenseKernels.MatMul<T>(a.Span.Slice(i * ar * ac, ar * ac), ar, ac, transA, b.Span.Slice(i * br * bc, br * bc), br, bc, transB,
                result.Span.Slice(i * m * n, m * n));
        return result;
    }

    /// <summary>c = op(a) op(b) + beta c for matrices, written into <paramref name="c"/> (m x n, row-major): lets a
    /// stacked rule put each item's product straight into its slice of the stack, or add it onto one there.</summary>
    internal static void MatMulInto<T>(Tensor<T> a, Tensor<T> b, bool transA, bool transB, T beta, Span<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ar = a.Shape[0], ac = a.Shape[1], br = b.Shape[0], bc = b.Shape[1];
        int m = transA ? ac : ar, k = transA ? ar : ac, n = transB ? br : bc;
        Kernels.DenseKernels.Gemm(transA, transB, m, n, k, T.One, a.Span, ac, b.Span, bc, beta, c.Slice(0, m * n), n);
    }

    /// <summary>x w^T + b (x [n, in], w [out, in], b [out]): rows start as b and the GEMM adds onto them.</summary>
    public static Tensor<T> Linear<T>(Tensor<T> x, Tensor<T> w, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Shape[0], inF = x.Shape[1], outF = w.Shape[0];
        var result = Tensor<T>.Uninitialized(n, outF);
        var r = result.Span;
        for (int i = 0; i < n; i++) b.Span.CopyTo(r.Slice(i * outF, outF));
        Kernels.DenseKernels.Gemm(false, true, n, outF, inF, T.One, x.Span, inF, w.Span, inF, T.One, r, outF);
        return result;
    }

    // ---------------------------------------------------------------- softmax family

    /// <summary>Numerically stable log-softmax along the last axis.</summary>
    public static Tensor<T> LogSoftmax<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Uninitialized(x.ShapeArray);
        int c = x.Rank == 0 ? 1 : x.Shape[x.Rank - 1];
        if (c == 0) return result;
        for (int o = 0; o < x.Length; o += c)
        {
            var row = x.Span.Slice(o, c); var dst = result.Span.Slice(o, c);
            T lse = LogSumExpRow(row);
            TP.Subtract(row, lse, dst);
        }
        return result;
    }

    /// <summary>log(sum(exp(x))) along the last axis, shifted by the maximum for stability.</summary>
    public static Tensor<T> LogSumExp<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = x.Shape[x.Rank - 1];
        var shape = x.Shape[..^1].ToArray();
        var result = Tensor<T>.Zeros(shape);
        for (int o = 0, r = 0; r < result.Length; o += c, r++) result.Span[r] = LogSumExpRow(x.Span.Slice(o, c));
        return result;
    }

    private static T LogSumExpRow<T>(ReadOnlySpan<T> row) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (row.Length == 0) return T.NegativeInfinity;
        T max = TP.Max(row);
        if (T.IsNaN(max)) return max;
        if (T.IsInfinity(max)) return max;
        T sum = T.Zero;
        foreach (var v in row) sum += T.Exp(v - max);
        return max + T.Log(sum);
    }

    // ---------------------------------------------------------------- gather / scatter

    /// <summary>y[i] = x[index[i]] over flat indices. A stack of K inputs [K, ...] gathers item by item into
    /// <paramref name="shape"/> [K, ...] (K = shape's size / index count): y[c, i] = x[c, index[i]].</summary>
    public static Tensor<T> GatherFlat<T>(Tensor<T> x, int[] index, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Uninitialized(shape);
        var s = x.Span; var d = result.Span;
        int items = index.Length == 0 ? 0 : d.Length / index.Length, inLen = items == 0 ? 0 : s.Length / items;
        for (int c = 0; c < items; c++)
            for (int i = 0; i < index.Length; i++) d[c * index.Length + i] = s[c * inLen + index[i]];
        return result;
    }

    /// <summary>x[index[i]] += g[i] into a zero tensor of the given shape (adjoint of gather). A stack of K
    /// gradients [K, index count] scatters item by item into <paramref name="shape"/> [K, ...].</summary>
    public static Tensor<T> ScatterAddFlat<T>(Tensor<T> g, int[] index, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Zeros(shape);
        var s = g.Span; var d = result.Span;
        int items = index.Length == 0 ? 0 : s.Length / index.Length, outLen = items == 0 ? 0 : d.Length / items;
        for (int c = 0; c < items; c++)
            for (int i = 0; i < index.Length; i++) d[c * outLen + index[i]] += s[c * index.Length + i];
        return result;
    }

    // ---------------------------------------------------------------- average pooling

    /// <summary>AvgPool2d without padding on [N, C, H, W] (divisor kh*kw, PyTorch's default).</summary>
    public static Tensor<T> AvgPool2d<T>(Tensor<T> x, int kh, int kw, int sh, int sw, bool transpose, int[] outShape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // transpose == false: x is [N,C,H,W], result outShape [N,C,Ho,Wo].
        // transpose == true: x is the gradient [N,C,Ho,Wo], result outShape [N,C,H,W] (the adjoint).
        var result = Tensor<T>.Zeros(outShape);
        var big = transpose ? outShape : x.ShapeArray;
        int nc = big[0] * big[1], h = big[2], w = big[3];
        int ho = (h - kh) / sh + 1, wo = (w - kw) / sw + 1;
        T scale = T.One / T.CreateTruncating(kh * kw);
        var s = x.Span; var d = result.Span;
        for (int p = 0; p < nc; p++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                {
                    int o = (p * ho + i) * wo + j;
                    if (!transpose)
                    {
                        T acc = T.Zero;
                        for (int a = 0; a < kh; a++)
                            for (int b = 0; b < kw; b++) acc += s[(p * h + i * sh + a) * w + j * sw + b];
                        d[o] = acc * scale;
                    }
                    else
                    {
                        T v = s[o] * scale;
                        for (int a = 0; a < kh; a++)
                            for (int b = 0; b < kw; b++) d[(p * h + i * sh + a) * w + j * sw + b] += v;
                    }
                }
        return result;
    }
}
