namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>Which output-gradient covariance KFAC uses (curvlinops' FisherType).</summary>
public enum FisherType
{
    /// <summary>Backpropagate the columns of a factor R of the loss Hessian (R R^T = d^2 l / d f^2): the type-2
    /// Fisher / GGN exactly. C columns for MSE and BCE, C - 1 for cross-entropy (the Hessian's rank; curvlinops
    /// backpropagates C), batched into stacked backward sweeps.</summary>
    Type2,
    /// <summary>Backpropagate gradients at targets sampled from the model's predictive
    /// distribution (McSamples per data point); equals <see cref="Type2"/> in expectation.</summary>
    MonteCarlo,
    /// <summary>Backpropagate the gradients at the data's own targets (empirical Fisher).</summary>
    Empirical,
    /// <summary>Gradient covariances are the identity (FOOF, Benzing 2022; ISAAC): no backward pass.</summary>
    ForwardOnly,
}

/// <summary>How weight sharing (conv positions, sequence axes) is approximated
/// (Eschenhagen et al. 2023, "KFAC for modern architectures").</summary>
public enum KfacApproximation
{
    /// <summary>Shared positions count as extra samples: A averages over samples and positions,
    /// G sums over both.</summary>
    Expand,
    /// <summary>Inputs are averaged and output gradients summed over the shared positions
    /// before the outer products.</summary>
    Reduce,
}

/// <summary>Options of <see cref="KfacOperator{T}"/> and <see cref="EkfacOperator{T}"/>; the defaults
/// are curvlinops 2.x's except the Fisher type, which must be chosen explicitly in the constructors.</summary>
public sealed record KfacOptions
{
    public FisherType FisherType { get; init; } = FisherType.MonteCarlo;
    public KfacApproximation Approximation { get; init; } = KfacApproximation.Expand;

    /// <summary>Monte-Carlo samples per data point (only for <see cref="FisherType.MonteCarlo"/>).</summary>
    public int McSamples { get; init; } = 1;

    /// <summary>Seed of the Monte-Carlo draws; draws are seeded per data point, so the result
    /// does not depend on the batch size.</summary>
    public int Seed { get; init; }

    /// <summary>Weight and bias in separate blocks (G ⊗ A and G) or jointly (G ⊗ [A, a; a^T, 1]).</summary>
    public bool SeparateWeightAndBias { get; init; } = true;

    /// <summary>Mini-batch size when streaming the data set; null for the whole set.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Before accumulating, run the first batch's passes twice and fail if the layer inputs or
    /// output gradients differ (Dropout or BatchNorm in training mode).</summary>
    public bool CheckDeterministic { get; init; } = true;

    /// <summary>Parameters to approximate (all must belong to Linear or Conv2d layers); null means
    /// every parameter of the model, which is then an error if some belong to other layers.</summary>
    public IReadOnlyList<string>? ParameterNames { get; init; }

    /// <summary>The processes sharing the data set: each accumulates the factors (and EKFAC's eigenvalues) over its
    /// contiguous shard of the samples and the sums are added across the processes, so every process builds the
    /// same operator. Default: one process.</summary>
    public Distributed.Communicator Communicator { get; init; } = Distributed.Communicator.Single;

    /// <summary>The kernel backend of the factor sums (<see cref="global::CurvNative.Kernels.IKernelBackend.AccumulateFactor{T}"/>) and of the
    /// operator's Kronecker products, on which the factors (EKFAC: the eigenbases) stay resident until the operator is
    /// disposed; null for <see cref="global::CurvNative.Kernels.KernelBackends.Default"/> (native when OpenBLAS loads, else managed). Not
    /// owned by the operator.</summary>
    public global::CurvNative.Kernels.IKernelBackend? Backend { get; init; }
}

/// <summary>How <see cref="KfacOperator{T}.Inverse"/> damps the Kronecker factors.</summary>
public enum KfacDamping
{
    /// <summary>(G + lambda I)^-1 ⊗ (A + lambda I)^-1: damping added to each factor (curvlinops' default).</summary>
    Tikhonov,
    /// <summary>Martens and Grosse (2015, Section 6.3): A + pi sqrt(lambda) I and G + sqrt(lambda)/pi I with
    /// pi = sqrt((tr A / dim A) / (tr G / dim G)), each at least the minimum damping.</summary>
    Heuristic,
    /// <summary>(G ⊗ A + lambda I)^-1 exactly, through the factors' eigendecompositions.</summary>
    Exact,
}
