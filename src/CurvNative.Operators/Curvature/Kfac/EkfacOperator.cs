using System.Numerics;
using CurvNative.Kernels;
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
/// <remarks>A <see cref="KroneckerEigenbasis{T}"/>: a block diagonal of <see cref="KroneckerEigenOperator{T}"/> blocks
/// whose eigenbases are resident on <see cref="KfacOptions.Backend"/> until <see cref="Dispose"/>.</remarks>
public sealed class EkfacOperator<T> : LinearOperator<T>, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly KroneckerEigenbasis<T> _basis;

    public EkfacOperator(Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
        : this(Prepare(model, loss, data, options), model, loss, data, options) { }

    private EkfacOperator(Prepared prepared, Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
        : base(Space.FromParameters(prepared.Parameters), Space.FromParameters(prepared.Parameters), isSymmetric: true, isPositiveSemiDefinite: true)
    {
        Parameters = prepared.Parameters;
        Backend = KernelBackends.OrDefault(options.Backend);
        _basis = KroneckerEigenbasis<T>.Create(Parameters, Correct(prepared.Layers, prepared.Bases, model, loss, data, options), Backend);
    }

    private sealed record Prepared(IReadOnlyList<Parameter<T>> Parameters, List<KfacLayer<T>> Layers, List<(Tensor<T>? QA, Tensor<T> QG)> Bases);

    /// <summary>The KFAC factors and their eigenbases. The factors die with this method: the correction pass
    /// that follows holds only the bases (for the CNN benchmark, 17 MB less live data at every collection).</summary>
    private static Prepared Prepare(Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
    {
        if (options.FisherType == FisherType.ForwardOnly)
            throw new ArgumentException("EKFAC refits eigenvalues to gradients, so it needs a Fisher type with a backward pass, not ForwardOnly.");
        var (parameters, blocks) = KfacOperator<T>.Factors(model, loss, data, options);
        var layers = blocks.Select(b => b.Layer).ToList();
        var bases = blocks.Select(b => (QA: b.Layer.Weight is null && !b.Layer.Joint ? null : Eigenbasis(b.A), QG: Eigenbasis(b.G))).ToList();
        return new Prepared(parameters, layers, bases);
    }

    public IReadOnlyList<Parameter<T>> Parameters { get; }
    public IReadOnlyList<EkfacBlock<T>> Blocks => _basis.Blocks;

    /// <summary>The backend the products run on and the eigenbases are resident on.</summary>
    public IKernelBackend Backend { get; }

    /// <summary>The operator as a block diagonal of Kronecker-eigenbasis blocks in parameter order.</summary>
    public BlockDiagonalOperator<T> Structure => _basis.Structure;

    private static Tensor<T> Eigenbasis(Tensor<T> m) => KroneckerAlgebra.Eigh(m).Q;

    private static IReadOnlyList<EkfacBlock<T>> Correct(List<KfacLayer<T>> layers, List<(Tensor<T>? QA, Tensor<T> QG)> bases,
        Module<T> model, Loss<T> loss, DataSet<T> data, KfacOptions options)
    {
        var backend = KernelBackends.OrDefault(options.Backend);
        var lambda = layers.Select(l => l.Weight is not null || l.Joint ? Tensor<T>.Zeros(l.OutDim, l.FactorInDim) : null).ToList();
        var lambdaBias = layers.Select(l => l.Bias is not null && !l.Joint ? Tensor<T>.Zeros(l.OutDim) : null).ToList();
        foreach (var (batch, start) in KfacOperator<T>.ShardBatches(data, options))
        {
            // Per layer: the positions sharing its weight, and its input rows in A's eigenbasis [n S, D'], rotated
            // as they arrive (once per batch whatever the number of seeds; the unrotated rows die at once).
            var shared = new Dictionary<KfacLayer<T>, int>(ReferenceEqualityComparer.Instance);
            var inEigenbasis = new Dictionary<KfacLayer<T>, Tensor<T>>(ReferenceEqualityComparer.Instance);
            KfacOperator<T>.LayerPasses(model, loss, batch, start, data.Count, layers, options,
                (layer, input) =>
                {
                    if (bases[layers.IndexOf(layer)].QA is { } qa)
                        (inEigenbasis[layer], shared[layer]) = layer.InputRowsTimes(input, options.Approximation, qa);
                    else shared[layer] = layer.InputShared(input, options.Approximation);
                },
                (layer, gradients) =>
                {
                    // A stacked pass hands kc seeds' gradients as one [kc n, ...] tensor; each seed's n rows pair with the inputs.
                    for (int c = 0; c < gradients.Shape[0] / Math.Max(1, batch.Count); c++)
                        AddSeed(layer, gradients.Slice0(c * batch.Count, batch.Count));
                });

            void AddSeed(KfacLayer<T> layer, Tensor<T> gradient)
            {
                int i = layers.IndexOf(layer), positions = shared[layer];
                int n = batch.Count, o = layer.OutDim, da = layer.FactorInDim;
                var gt = layer.GradientRowsTimes(gradient, options.Approximation, bases[i].QG); // [n S, O] in G's eigenbasis
                if (lambda[i] is { } lam)
                {
                    var at = inEigenbasis[layer];
                    if (positions == 1)
                    {
                        // One row per sample: the per-sample gradient is the outer product g~ a~^T, so its
                        // squares are (g~^2)(a~^2)^T and the sum over samples is one GEMM.
                        var g2 = TensorOps.Binary(gt, gt, TensorOps.BinaryKind.Multiply);
                        var a2 = TensorOps.Binary(at, at, TensorOps.BinaryKind.Multiply);
                        backend.Gemm(true, false, o, da, n, T.One, g2.Span, a2.Span, T.One, lam.Span);
                    }
                    else
                    {
                        var m = new T[o * da];
                        for (int s = 0; s < n; s++)
                        {
                            // Per-sample gradient in the eigenbasis: sum over shared positions of g~ a~^T.
                            backend.Gemm(true, false, o, da, positions, T.One, gt.Span.Slice(s * positions * o, positions * o),
                                at.Span.Slice(s * positions * da, positions * da), T.Zero, m);
                            var l = lam.Span;
                            for (int j = 0; j < m.Length; j++) l[j] += m[j] * m[j];
                        }
                    }
                }
                if (lambdaBias[i] is { } lb)
                    for (int s = 0; s < n; s++)
                        for (int q = 0; q < o; q++)
                        {
                            T sum = T.Zero;
                            for (int p = 0; p < positions; p++) sum += gt.Span[(s * positions + p) * o + q];
                            lb.Span[q] += sum * sum;
                        }
            }
        }
        foreach (var l in lambda.Concat(lambdaBias).OfType<Tensor<T>>()) options.Communicator.AllReduceSum(l);
        return layers.Select((l, i) => new EkfacBlock<T>(l, bases[i].QA, bases[i].QG, lambda[i], lambdaBias[i])).ToList();
    }

    protected override Tensor<T> MatMatCore(Tensor<T> x) => _basis.Apply(x);

    /// <summary>tr = Σ Lambda + Σ LambdaBias (the eigenvalues of the blocks).</summary>
    public double Trace() => _basis.Trace();

    /// <summary>log det = Σ log Lambda + Σ log LambdaBias; −∞ when an eigenvalue is at or below n ε times its block's largest.</summary>
    public double LogDeterminant() => _basis.LogDeterminant();

    /// <summary>||EKFAC||_F = sqrt(Σ Lambda² + Σ LambdaBias²).</summary>
    public double FrobeniusNorm() => _basis.FrobeniusNorm();

    /// <summary>The damped inverse (EKFAC + lambda I)^-1 = Q diag(1 / (Lambda + lambda)) Q^T, exact
    /// for this operator because Q is orthogonal (George et al. 2018).</summary>
    /// <exception cref="SingularOperatorException">A damped block is singular to working precision (an eigenvalue
    /// Lambda + lambda at or below n ε times the block's largest).</exception>
    public LinearOperator<T> Inverse(double damping) => _basis.Inverse(damping);

    protected override LinearOperator<T> TransposeCore() => this;

    /// <summary>Releases the eigenbases' resident buffers.</summary>
    public void Dispose() => _basis.Dispose();
}
