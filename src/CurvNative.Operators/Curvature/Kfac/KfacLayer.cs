using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using CurvNative.Kernels;
using CurvNative.Native;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>
/// One Kronecker-factored layer (Linear or Conv2d) and the parameters of it that the operator
/// covers. Turns the layer's input and output gradient into matrices of rows
/// [rows, D] and [rows, O] in "weight-sharing format": for Linear D = in_features and one row per
/// sample (and per position of extra leading axes); for Conv2d D = C_in k k (im2col patches) and
/// one row per sample and output position (expand) or per sample (reduce).
/// </summary>
public sealed class KfacLayer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal KfacLayer(Module<T> module, Parameter<T>? weight, Parameter<T>? bias, bool joint)
    {
        Module = module; Weight = weight; Bias = bias;
        (InDim, OutDim) = module switch
        {
            Linear<T> l => (l.InFeatures, l.OutFeatures),
            Conv2d<T> c => (c.InChannels * c.KernelSize * c.KernelSize, c.OutChannels),
            _ => throw new ArgumentException($"KFAC supports Linear and Conv2d layers, not {module}."),
        };
        Joint = joint && weight is not null && bias is not null;
    }

    public Module<T> Module { get; }

    /// <summary>The weight if it is among the operator's parameters.</summary>
    public Parameter<T>? Weight { get; }

    /// <summary>The bias if it is among the operator's parameters.</summary>
    public Parameter<T>? Bias { get; }

    /// <summary>D: the input dimension of the weight viewed as a matrix [O, D].</summary>
    public int InDim { get; }

    /// <summary>O: the number of outputs (rows of the weight).</summary>
    public int OutDim { get; }

    /// <summary>Weight and bias share one block G ⊗ A_aug (A augmented by a ones coordinate).</summary>
    public bool Joint { get; }

    /// <summary>Dimension of A: D, or D + 1 for a joint block.</summary>
    public int FactorInDim => Joint ? InDim + 1 : InDim;

    /// <summary>The convolution of a Conv2d layer on input x [n, C, H, W].</summary>
    private static Conv2dGeometry Geometry(Conv2d<T> c, Tensor<T> x)
        => Conv2dGeometry.Create(x.Shape[0], c.InChannels, x.Shape[2], x.Shape[3], c.OutChannels, c.KernelSize, c.Stride, c.Padding);

    /// <summary>S of <see cref="InputRows"/> for this input, without computing the rows.</summary>
    internal int InputShared(Tensor<T> x, KfacApproximation approx)
    {
        if (approx == KfacApproximation.Reduce) return 1;
        if (Module is Conv2d<T> c) { var g = Geometry(c, x); return g.OutHeight * g.OutWidth; }
        int n = x.Shape[0];
        return n == 0 ? 1 : x.Length / (n * InDim);
    }

    /// <summary>Input rows [rows, FactorInDim] and the number of shared positions S they came from
    /// (S = 1 for reduce and for plain Linear inputs).</summary>
    internal (Tensor<T> Rows, int Shared) InputRows(Tensor<T> x, KfacApproximation approx)
    {
        int n = x.Shape[0];
        Tensor<T> rows; int shared;
        if (Module is Conv2d<T> c)
        {
            var cols = Patches(c, x);
            shared = cols.Shape[2];
            rows = TensorOps.Permute(cols, [0, 2, 1]).Reshape(n * shared, InDim); // one patch per row
        }
        else
        {
            shared = n == 0 ? 1 : x.Length / (n * InDim);
            rows = x.Reshape(n * shared, InDim);
        }
        if (approx == KfacApproximation.Reduce && shared > 1)
        {
            rows = TensorOps.SumTo(rows.Reshape(n, shared, InDim), [n, 1, InDim]).Reshape(n, InDim);
            rows = TensorOps.Affine(rows, T.One / T.CreateTruncating(shared), T.Zero); // mean over positions
            shared = 1;
        }
        return (Joint ? AppendOnes(rows) : rows, shared);
    }

    /// <summary>
    /// <see cref="InputRows"/> times q [FactorInDim, m] (EKFAC's rotation into A's eigenbasis). A convolution under
    /// expand multiplies each sample's unfolded patches [D, S] by q through one transposed GEMM, instead of first
    /// permuting them into rows (for the CNN benchmark that permute copied 16 MB per batch); a joint block's ones
    /// coordinate adds q's last row to every row.
    /// </summary>
    internal (Tensor<T> Rows, int Shared) InputRowsTimes(Tensor<T> x, KfacApproximation approx, Tensor<T> q)
    {
        if (Module is not Conv2d<T> c || approx != KfacApproximation.Expand)
        {
            var (rows, shared) = InputRows(x, approx);
            return (TensorOps.MatMul(rows, q, false, false), shared);
        }
        var cols = Patches(c, x);
        int d = InDim, s = cols.Shape[2], m = q.Shape[1];
        var result = ItemsTransposedTimes(cols, q);
        if (Joint)
        {
            var rs = result.Span;
            ReadOnlySpan<T> ones = q.Span.Slice(d * m, m);
            for (int r = 0; r < result.Shape[0]; r++) TensorPrimitives.Add(rs.Slice(r * m, m), ones, rs.Slice(r * m, m));
        }
        return (result, s);
    }

    /// <summary>A convolution's input unfolded into patches [n, D, S] (torch's unfold).</summary>
    private Tensor<T> Patches(Conv2d<T> c, Tensor<T> x)
    {
        var g = Geometry(c, x);
        var cols = Tensor<T>.Uninitialized(x.Shape[0], InDim, g.OutHeight * g.OutWidth); // unfold writes every element, padding included
        NativeKernels.Unfold(g, x.Span, cols.Span);
        return cols;
    }

    /// <summary>[n S, m]: item i of <paramref name="items"/> [n, r, S] transposed, times the first r rows of q [>= r, m].</summary>
    private static Tensor<T> ItemsTransposedTimes(Tensor<T> items, Tensor<T> q)
    {
        int n = items.Shape[0], r = items.Shape[1], s = items.Length / Math.Max(1, n * r), m = q.Shape[1];
        var result = Tensor<T>.Uninitialized(n * s, m);
        for (int i = 0; i < n; i++)
            DenseKernels.Gemm(true, false, s, m, r, T.One, items.Span.Slice(i * r * s, r * s), s, q.Span, m, T.Zero, result.Span.Slice(i * s * m, s * m), m);
        return result;
    }

    /// <summary><see cref="GradientRows"/> times q [O, m] (EKFAC's rotation into G's eigenbasis); a convolution's
    /// [n, O, S] gradient under expand by one transposed GEMM per sample instead of a permute into rows first.</summary>
    internal Tensor<T> GradientRowsTimes(Tensor<T> g, KfacApproximation approx, Tensor<T> q)
    {
        if (Module is not Conv2d<T> || approx != KfacApproximation.Expand)
            return TensorOps.MatMul(GradientRows(g, approx), q, false, false);
        return ItemsTransposedTimes(g.Reshape(g.Shape[0], OutDim, g.Shape[2] * g.Shape[3]), q);
    }

    /// <summary>Output-gradient rows [rows, O]: expand keeps one row per position, reduce sums them.</summary>
    internal Tensor<T> GradientRows(Tensor<T> g, KfacApproximation approx)
    {
        int n = g.Shape[0];
        Tensor<T> rows; int shared;
        if (Module is Conv2d<T>)
        {
            shared = g.Shape[2] * g.Shape[3];
            rows = TensorOps.Permute(g.Reshape(n, OutDim, shared), [0, 2, 1]).Reshape(n * shared, OutDim);
        }
        else
        {
            shared = n == 0 ? 1 : g.Length / (n * OutDim);
            rows = g.Reshape(n * shared, OutDim);
        }
        if (approx == KfacApproximation.Reduce && shared > 1)
            rows = TensorOps.SumTo(rows.Reshape(n, shared, OutDim), [n, 1, OutDim]).Reshape(n, OutDim);
        return rows;
    }

    /// <summary>
    /// Adds the batch's sum over input rows of a a^T (a augmented by a ones coordinate for a joint block) to
    /// the upper triangle of <paramref name="c"/> [FactorInDim, FactorInDim] without materialising the rows:
    /// a convolution's patches are unfolded chunk by chunk inside the native kernel, KFAC-reduce sums them
    /// from the input directly, and the ones coordinate contributes the row sums and the row count.
    /// Adds alpha times the Gram; <paramref name="beta"/> = 0 overwrites the upper triangle (1 accumulates); S is <see cref="InputShared"/>'s.
    /// </summary>
    internal void AddInputGram(IKernelBackend backend, Tensor<T> x, KfacApproximation approx, T alpha, T beta, Span<T> c)
    {
        int n = x.Shape[0], d = InDim, m = FactorInDim;
        if (Module is Conv2d<T> conv)
        {
            var g = Geometry(conv, x);
            int positions = g.OutHeight * g.OutWidth;
            if (approx == KfacApproximation.Expand || positions == 1)
            {
                // The fused unfold-and-SYRK kernel of libcurvnative (patches unfolded chunk by chunk, never whole): the
                // seam's AccumulateFactor takes materialised rows, which for the CNN would be the whole unfolded input.
                NativeKernels.UnfoldGram(g, x.Span, alpha, beta, Joint, c, m);
                return;
            }
            var sums = GC.AllocateUninitializedArray<T>(n * d);
            NativeKernels.UnfoldSum(g, x.Span, sums);
            TensorPrimitives.Multiply(sums, T.One / T.CreateTruncating(positions), sums); // mean over positions
            AddRowsGram(backend, sums, n, d, alpha, beta, Joint, c);
            return;
        }
        int shared = n == 0 ? 1 : x.Length / (n * d);
        if (approx == KfacApproximation.Reduce && shared > 1)
        {
            var means = SumRows(x.Span, n, shared, d);
            TensorPrimitives.Multiply(means, T.One / T.CreateTruncating(shared), means);
            AddRowsGram(backend, means, n, d, alpha, beta, Joint, c);
            return;
        }
        AddRowsGram(backend, x.Span, n * shared, d, alpha, beta, Joint, c);
    }

    /// <summary>Adds scale * the batch's sum over output-gradient rows of g g^T (rows as <see cref="GradientRows"/>)
    /// to <paramref name="c"/> [OutDim, OutDim] through <see cref="IKernelBackend.AccumulateFactor{T}"/> (its upper
    /// triangle is what is kept) without copying a Linear layer's gradient; a convolution's [n, O, S] gradient is
    /// transposed one sample at a time. Returns the number of rows.</summary>
    internal long AddGradientGram(IKernelBackend backend, Tensor<T> g, KfacApproximation approx, T scale, T beta, Span<T> c)
    {
        int n = g.Shape[0], o = OutDim;
        bool conv = Module is Conv2d<T>;
        int shared = conv ? g.Shape[2] * g.Shape[3] : n == 0 ? 1 : g.Length / (n * o);
        if (approx == KfacApproximation.Reduce && shared > 1)
        {
            T[] sums;
            if (conv)
            {
                sums = GC.AllocateUninitializedArray<T>(n * o);
                var src = g.Span;
                for (int i = 0; i < sums.Length; i++) sums[i] = Reductions.Sum<T>(src.Slice(i * shared, shared));
            }
            else sums = SumRows(g.Span, n, shared, o);
            Accumulate(backend, n, o, scale, sums, beta, c);
            return n;
        }
        if (conv && shared > 1 && n > 0)
        {
            // [n, O, S]: sum_n G_n G_n^T with G_n [O, S] row-major. A host backend takes G_n as it is (the SYRK of its
            // rows); a device backend gets each G_n^T [S, O] as rows.
            var span = g.Span;
            if (backend is HostKernelBackend host)
            {
                for (int s = 0; s < n; s++)
                    host.AccumulateFactorUpper(shared, o, scale, span.Slice(s * o * shared, o * shared), columns: true, s == 0 ? beta : T.One, c);
                return (long)n * shared;
            }
            var rows = GC.AllocateUninitializedArray<T>(shared * o);
            for (int s = 0; s < n; s++)
            {
                SwapAxes(span.Slice(s * o * shared, o * shared), o, shared, rows);
                backend.AccumulateFactor(shared, o, scale, rows, s == 0 ? beta : T.One, c);
            }
            return (long)n * shared;
        }
        Accumulate(backend, n * shared, o, scale, g.Span, beta, c);
        return (long)n * shared;
    }

    /// <summary>
    /// c += scale R^T R (beta c first) for rows R [n, d] through the seam's factor accumulation. The accumulator keeps only
    /// upper triangles and mirrors once at the end, so a host backend is asked for the upper triangle alone (a mirror
    /// per batch of the CNN's 2048 x 2048 factor cost more than its SYRK); a device backend returns the full matrix.
    /// </summary>
    private static void Accumulate(IKernelBackend backend, int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> c)
    {
        if (backend is HostKernelBackend host) host.AccumulateFactorUpper(n, d, scale, rows, columns: false, beta, c);
        else backend.AccumulateFactor(n, d, scale, rows, beta, c);
    }

    /// <summary>dst [cols, rows] = the transpose of src [rows, cols].</summary>
    private static void SwapAxes(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst)
    {
        for (int i = 0; i < rows; i++)
        {
            var row = src.Slice(i * cols, cols);
            for (int j = 0; j < cols; j++) dst[j * rows + i] = row[j];
        }
    }

    /// <summary>c [m, m] (m = d, or d + 1 when augmented) = beta c + alpha R_aug^T R_aug for rows R [r, d] through
    /// <see cref="IKernelBackend.AccumulateFactor{T}"/>; augmented, R_aug = [R | 1], whose Gram holds R's column sums in
    /// column d and r in the corner.</summary>
    private static void AddRowsGram(IKernelBackend backend, ReadOnlySpan<T> rows, int r, int d, T alpha, T beta, bool augment, Span<T> c)
    {
        if (!augment)
        {
            Accumulate(backend, r, d, alpha, rows, beta, c);
            return;
        }
        var aug = GC.AllocateUninitializedArray<T>(r * (d + 1));
        for (int i = 0; i < r; i++)
        {
            rows.Slice(i * d, d).CopyTo(aug.AsSpan(i * (d + 1), d));
            aug[i * (d + 1) + d] = T.One;
        }
        Accumulate(backend, r, d + 1, alpha, aug, beta, c);
    }

    /// <summary>Sums [n, d] over the middle axis of x [n, s, d].</summary>
    private static T[] SumRows(ReadOnlySpan<T> x, int n, int s, int d)
    {
        var sums = new T[n * d];
        for (int i = 0; i < n; i++)
        {
            var dst = sums.AsSpan(i * d, d);
            for (int p = 0; p < s; p++) TensorPrimitives.Add(dst, x.Slice((i * s + p) * d, d), dst);
        }
        return sums;
    }

    private static Tensor<T> AppendOnes(Tensor<T> rows)
    {
        int r = rows.Shape[0], d = rows.Shape[1];
        var result = Tensor<T>.Zeros(r, d + 1);
        for (int i = 0; i < r; i++)
        {
            rows.Span.Slice(i * d, d).CopyTo(result.Span.Slice(i * (d + 1), d));
            result.Span[i * (d + 1) + d] = T.One;
        }
        return result;
    }

    public override string ToString() => $"{Module} [{string.Join(", ", new[] { Weight?.Name, Bias?.Name }.Where(n => n is not null))}]";
}
