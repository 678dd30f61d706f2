using System.Numerics;
using CurvNative.Kernels;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>
/// A block-diagonal operator in Kronecker eigenbases: per layer, the weight (or joint) block
/// V -> Q_G ((Q_G^T V Q_A) ∘ Lambda) Q_A^T and the bias block v -> Q_G (LambdaBias ∘ (Q_G^T v)), each a
/// <see cref="KroneckerEigenOperator{T}"/> (the bias block with Q_A = [1]) inside a <see cref="BlockDiagonalOperator{T}"/>.
/// EKFAC is such an operator, and so are the damped inverses of KFAC and EKFAC (with Lambda holding
/// inverse eigenvalues). Owns the eigenbases' resident buffers of its backend: dispose it to release them.
/// </summary>
public sealed class KroneckerEigenbasis<T> : LinearOperator<T>, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<KfacPiece<T>> _pieces;
    private readonly BlockDiagonalOperator<T> _structure;

    private KroneckerEigenbasis(List<KfacPiece<T>> pieces, BlockDiagonalOperator<T> structure, IReadOnlyList<EkfacBlock<T>> blocks)
        : base(structure.InputSpace, structure.InputSpace, isSymmetric: true, isPositiveSemiDefinite: structure.IsPositiveSemiDefinite)
    {
        _pieces = pieces;
        _structure = structure;
        Blocks = blocks;
    }

    /// <summary>The operator of the EKFAC-type <paramref name="blocks"/> over <paramref name="parameters"/>, with the
    /// eigenbases uploaded to <paramref name="backend"/> (the tensors are taken over, not copied).</summary>
    internal static KroneckerEigenbasis<T> Create(IReadOnlyList<Parameter<T>> parameters, IReadOnlyList<EkfacBlock<T>> blocks, IKernelBackend backend)
    {
        var byLayer = blocks.ToDictionary(b => b.Layer, (IEqualityComparer<KfacLayer<T>>)ReferenceEqualityComparer.Instance);
        var unit = Tensor<T>.FromArray([T.One], 1, 1);
        var (pieces, structure) = KfacStructure.Assemble(parameters, blocks.Select(b => b.Layer),
            (layer, space) =>
            {
                var b = (EkfacBlock<T>)byLayer[layer];
                return KroneckerEigenOperator<T>.Create(b.QG, b.QA!, b.Lambda!.Reshape(layer.OutDim, layer.FactorInDim), space, backend, layer.ToString());
            },
            (layer, space) =>
            {
                var b = (EkfacBlock<T>)byLayer[layer];
                return KroneckerEigenOperator<T>.Create(b.QG, unit, b.LambdaBias!.Reshape(layer.OutDim, 1), space, backend, layer.ToString());
            });
        return new KroneckerEigenbasis<T>(pieces, structure, blocks);
    }

    /// <summary>The operator of <paramref name="pieces"/> (Kronecker-eigenbasis blocks in parameter order); its EKFAC
    /// blocks are read off them.</summary>
    internal static KroneckerEigenbasis<T> FromPieces(List<KfacPiece<T>> pieces)
    {
        var blocks = new List<EkfacBlock<T>>();
        foreach (var group in pieces.GroupBy(p => p.Layer, ReferenceEqualityComparer.Instance))
        {
            var layer = (KfacLayer<T>)group.Key!;
            Tensor<T>? qa = null, lambda = null, lambdaBias = null;
            Tensor<T> qg = null!;
            foreach (var p in group)
            {
                var e = (KroneckerEigenOperator<T>)p.Core;
                qg = e.QA;
                if (p.IsBias) lambdaBias = e.Lambda.Reshape(layer.OutDim);
                else { qa = e.QB; lambda = e.Lambda; }
            }
            blocks.Add(new EkfacBlock<T>(layer, qa, qg, lambda, lambdaBias));
        }
        return new KroneckerEigenbasis<T>(pieces, KfacStructure.Diagonal(pieces), blocks);
    }

    /// <summary>The blocks per layer.</summary>
    public IReadOnlyList<EkfacBlock<T>> Blocks { get; }

    /// <summary>The operator as a block diagonal of <see cref="KroneckerEigenOperator{T}"/> blocks (a joint
    /// weight-and-bias block inside a permutation of its coordinates), in parameter order.</summary>
    public BlockDiagonalOperator<T> Structure => _structure;

    protected override Tensor<T> MatMatCore(Tensor<T> x) => _structure.Apply(x);

    protected override LinearOperator<T> TransposeCore() => this;

    /// <summary>tr = Σ Lambda (Σ LambdaBias).</summary>
    public double Trace() => _structure.TraceInDouble();

    /// <summary>log det = Σ log Lambda; −∞ when an eigenvalue is at or below n ε times its block's largest.</summary>
    public double LogDeterminant() => _structure.LogDeterminantInDouble();

    /// <summary>||·||_F = sqrt(Σ Lambda²).</summary>
    public double FrobeniusNorm() => Math.Sqrt(_structure.FrobeniusSquaredInDouble());

    /// <summary>The damped inverse (this + lambda I)^-1 = Q diag(1 / (Lambda + lambda)) Q^T, exact because Q is
    /// orthogonal (George et al. 2018), on the same backend.</summary>
    /// <exception cref="SingularOperatorException">A damped block is singular to working precision.</exception>
    public KroneckerEigenbasis<T> Inverse(double damping)
    {
        KroneckerAlgebra.CheckDamping(damping);
        return FromPieces(_pieces.Select(p => p.With(((KroneckerEigenOperator<T>)p.Core).DampedInverse(damping))).ToList());
    }

    /// <summary>Releases the eigenbases' resident buffers.</summary>
    public void Dispose() => KfacStructure.Dispose(_pieces);
}
