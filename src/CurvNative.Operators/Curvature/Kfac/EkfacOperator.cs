using System.Numerics;
using CurvNative.Native;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>One EKFAC block: the eigenbases Q_A [D', D'] and Q_G [O, O] (eigenvectors as columns)
/// of the KFAC factors and the refitted eigenvalues, Lambda [O, D'] for the weight (or joint) block
/// and LambdaBias [O] for a separate bias block.</summary>
public sealed record EkfacBlock<T>(KfacLayer<T> Layer, Tensor<T>? QA, Tensor<T> QG, Tensor<T>? Lambda, Tensor<T>? LambdaBias)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Eigenvalue-corrected KFAC (George et al. 2018): in the Kronecker eigenbasis Q_G ⊗ Q_A of the KFAC
/// factors, the diagonal is refitted to the second moments of the per-sample gradients,
/// Lambda_ij = sum_n sum_c [Q_G^T (sum_s b_ncs a_ns^T) Q_A]_ij^2, i.e. the exact diagonal of the
/// block's GGN/Fisher in that basis. The weight block applies V -> Q_G ((Q_G^T V Q_A) ∘ Lambda) Q_A^T.
/// Costs the KFAC factors, their eigendecompositions (LAPACK syevd) and one more pass over the data.
/// </summary>
public sealed class EkfacOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<Parameter<T>, int> _offsets = new(ReferenceEqualityComparer.Instance);

    public EkfacOperator(Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
        : this(new KfacOperator<T>(model, loss, data, options), model, loss, data, options) { }

    private EkfacOperator(KfacOperator<T> kfac, Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
        : base(kfac.InputSpace, kfac.OutputSpace, isSymmetric: true, isPositiveSemiDefinite: true)
    {
        if (options.FisherType == FisherType.ForwardOnly)
            throw new ArgumentException("EKFAC refits eigenvalues to gradients, so it needs a Fisher type with a backward pass, not ForwardOnly.");
        Parameters = kfac.Parameters;
        int off = 0;
        foreach (var p in Parameters) { _offsets[p] = off; off += p.Length; }
        Blocks = Correct(kfac, model, loss, data, options);
    }

    public IReadOnlyList<Parameter<T>> Parameters { get; }
    public IReadOnlyList<EkfacBlock<T>> Blocks { get; }

    /// <summary>Eigenvectors as columns (ascending eigenvalues) of a symmetric factor.</summary>
    internal static Tensor<T> Eigenbasis(Tensor<T> m)
    {
        int n = m.Shape[0];
        var a = m.Clone();
        var w = new T[n];
        Lapack.SymmetricEigen<T>(n, a.Span, w);
        return TensorOps.Permute(a, [1, 0]); // LAPACK returns V^T row-major
    }

    private static IReadOnlyList<EkfacBlock<T>> Correct(KfacOperator<T> kfac, Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
    {
        var layers = kfac.Blocks.Select(b => b.Layer).ToList();
        var bases = kfac.Blocks.Select(b => (QA: b.Layer.Weight is null && !b.Layer.Joint ? null : Eigenbasis(b.A), QG: Eigenbasis(b.G))).ToList();
        var lambda = layers.Select(l => l.Weight is not null || l.Joint ? Tensor<T>.Zeros(l.OutDim, l.FactorInDim) : null).ToList();
        var lambdaBias = layers.Select(l => l.Bias is not null && !l.Joint ? Tensor<T>.Zeros(l.OutDim) : null).ToList();
        int start = 0;
        foreach (var batch in data.Batches(options.BatchSize))
        {
            var grads = KfacOperator<T>.LayerPasses(model, loss, batch, start, data.Count, layers, options, out var inputs);
            var inputRows = new Dictionary<KfacLayer<T>, (Tensor<T> Rows, int Shared)>(ReferenceEqualityComparer.Instance);
            foreach (var (layer, input) in inputs) inputRows[layer] = layer.InputRows(input, options.Approximation);
            foreach (var (layer, gradient) in grads)
            {
                int i = layers.IndexOf(layer);
                var (rowsA, shared) = inputRows[layer];
                var rowsG = layer.GradientRows(gradient, options.Approximation);
                int n = batch.Count, o = layer.OutDim, da = layer.FactorInDim;
                var gt = TensorOps.MatMul(rowsG, bases[i].QG, false, false); // [n S, O] in G's eigenbasis
                if (lambda[i] is { } lam)
                {
                    var at = TensorOps.MatMul(rowsA, bases[i].QA!, false, false); // [n S, D'] in A's eigenbasis
                    var m = new T[o * da];
                    for (int s = 0; s < n; s++)
                    {
                        // Per-sample gradient in the eigenbasis: sum over shared positions of g~ a~^T.
                        Blas.Gemm(true, false, o, da, shared, T.One, gt.Span.Slice(s * shared * o, shared * o), o,
                            at.Span.Slice(s * shared * da, shared * da), da, T.Zero, m, da);
                        var l = lam.Span;
                        for (int j = 0; j < m.Length; j++) l[j] += m[j] * m[j];
                    }
                }
                if (lambdaBias[i] is { } lb)
                    for (int s = 0; s < n; s++)
                        for (int q = 0; q < o; q++)
                        {
                            T sum = T.Zero;
                            for (int p = 0; p < shared; p++) sum += gt.Span[(s * shared + p) * o + q];
                            lb.Span[q] += sum * sum;
                        }
            }
            start += batch.Count;
        }
        return layers.Select((l, i) => new EkfacBlock<T>(l, bases[i].QA, bases[i].QG, lambda[i], lambdaBias[i])).ToList();
    }

    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        var xt = TensorOps.Permute(x, [1, 0]);
        var yt = Tensor<T>.Zeros(k, Rows);
        foreach (var b in Blocks)
            for (int col = 0; col < k; col++)
                ApplyBlock(b, xt.Span.Slice(col * Columns, Columns), yt.Span.Slice(col * Rows, Rows), d => d);
        return TensorOps.Permute(yt, [1, 0]);
    }

    /// <summary>Applies Q diag(f(Lambda)) Q^T of one block (f = identity for the operator itself).</summary>
    internal void ApplyBlock(EkfacBlock<T> b, ReadOnlySpan<T> x, Span<T> y, Func<T, T> f)
    {
        var layer = b.Layer;
        int o = layer.OutDim, d = layer.InDim, da = layer.FactorInDim;
        if (b.Lambda is not null)
        {
            var v = new T[o * da];
            int wOff = _offsets[layer.Weight!];
            for (int i = 0; i < o; i++) x.Slice(wOff + i * d, d).CopyTo(v.AsSpan(i * da, d));
            int bOff = layer.Joint ? _offsets[layer.Bias!] : -1;
            if (layer.Joint) for (int i = 0; i < o; i++) v[i * da + d] = x[bOff + i];
            // Q_G^T V Q_A, scale elementwise, then Q_G (.) Q_A^T.
            var t1 = new T[o * da]; var t2 = new T[o * da];
            Blas.Gemm(true, false, o, da, o, T.One, b.QG.Span, o, v, da, T.Zero, t1, da);
            Blas.Gemm(false, false, o, da, da, T.One, t1, da, b.QA!.Span, da, T.Zero, t2, da);
            for (int j = 0; j < t2.Length; j++) t2[j] *= f(b.Lambda.Span[j]);
            Blas.Gemm(false, false, o, da, o, T.One, b.QG.Span, o, t2, da, T.Zero, t1, da);
            Blas.Gemm(false, true, o, da, da, T.One, t1, da, b.QA.Span, da, T.Zero, t2, da);
            for (int i = 0; i < o; i++) t2.AsSpan(i * da, d).CopyTo(y.Slice(wOff + i * d, d));
            if (layer.Joint) for (int i = 0; i < o; i++) y[bOff + i] = t2[i * da + d];
        }
        if (b.LambdaBias is not null)
        {
            int off = _offsets[layer.Bias!];
            var t = new T[o]; var r = new T[o];
            Blas.Gemm(true, false, o, 1, o, T.One, b.QG.Span, o, x.Slice(off, o), 1, T.Zero, t, 1);
            for (int j = 0; j < o; j++) t[j] *= f(b.LambdaBias.Span[j]);
            Blas.Gemm(false, false, o, 1, o, T.One, b.QG.Span, o, t, 1, T.Zero, r, 1);
            r.CopyTo(y.Slice(off, o));
        }
    }

    protected override LinearOperator<T> TransposeCore() => this;
}
